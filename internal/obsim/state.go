package obsim

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ClusterState is what every member of one simulated cluster agrees on:
// bootstrap, membership, zones and users. The leader (the first server named
// in BOOTSTRAP, which gets the root service) applies every change, bumps
// Revision and pushes the whole state to each member over the rpc port before
// it answers, so a change is visible on every reachable server as soon as the
// statement returns.
type ClusterState struct {
	Revision     int64            `json:"revision"`
	Bootstrapped bool             `json:"bootstrapped"`
	ClusterName  string           `json:"cluster_name"`
	ClusterID    string           `json:"cluster_id"`
	Leader       string           `json:"leader"` // "ip:rpc_port"
	Zones        []string         `json:"zones"`
	Servers      []ServerInfo     `json:"servers"`
	Users        map[string]*User `json:"users"`
	// InternalSecret authenticates the connections members open to the
	// leader's MySQL port to run ordinary SQL there.
	InternalSecret string `json:"internal_secret"`
	BootstrapTime  int64  `json:"bootstrap_time"` // unix micros
}

// ServerInfo is one row of DBA_OB_SERVERS.
type ServerInfo struct {
	IP               string `json:"ip"`
	RPCPort          int    `json:"rpc_port"`
	SQLPort          int    `json:"sql_port"`
	Zone             string `json:"zone"`
	WithRootserver   bool   `json:"with_rootserver"`
	CreateTime       int64  `json:"create_time"`        // unix micros
	StartServiceTime int64  `json:"start_service_time"` // unix micros
	BuildVersion     string `json:"build_version"`
	// Params are the server's -o parameters, for the parameter view.
	Params map[string]string `json:"params,omitempty"`
}

// Addr is the server's "ip:rpc_port" as OceanBase names servers.
func (s ServerInfo) Addr() string { return joinHostPort(s.IP, s.RPCPort) }

// User is an account of the sys tenant. The password is kept the way MySQL
// keeps mysql_native_password credentials: SHA1(SHA1(password)), hex; empty
// means no password.
type User struct {
	PasswordHash string   `json:"password_hash"`
	Grants       []string `json:"grants,omitempty"`
}

// nativeHash returns MySQL's stored form of a mysql_native_password password.
func nativeHash(password string) string {
	if password == "" {
		return ""
	}
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return strings.ToUpper(hex.EncodeToString(h2[:]))
}

func (st *ClusterState) clone() *ClusterState {
	b, _ := json.Marshal(st)
	var c ClusterState
	_ = json.Unmarshal(b, &c)
	return &c
}

func (st *ClusterState) server(addr string) (ServerInfo, bool) {
	for _, s := range st.Servers {
		if s.Addr() == addr {
			return s, true
		}
	}
	return ServerInfo{}, false
}

func (st *ClusterState) hasZone(z string) bool {
	for _, x := range st.Zones {
		if x == z {
			return true
		}
	}
	return false
}

func (st *ClusterState) leaderInfo() (ServerInfo, bool) { return st.server(st.Leader) }

// initialState is a server's state before bootstrap: root without password.
func initialState() *ClusterState {
	return &ClusterState{Users: map[string]*User{"root": {}}}
}

func statePath(dataDir string) string { return filepath.Join(dataDir, "obsim-cluster.json") }

func loadState(dataDir string) (*ClusterState, error) {
	b, err := os.ReadFile(statePath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return initialState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var st ClusterState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", statePath(dataDir), err)
	}
	if st.Users == nil {
		st.Users = map[string]*User{"root": {}}
	}
	return &st, nil
}

func saveState(dataDir string, st *ClusterState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(statePath(dataDir), b)
}

func nowMicros() int64 { return time.Now().UnixMicro() }
