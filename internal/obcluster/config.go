package obcluster

import (
	"net"
	"strconv"
)

// ConfigValue is one observer config value with the registry revision at
// which it was written; obshell's merge lets the most recently written
// value win across scopes ("Integrate config").
type ConfigValue struct {
	Value    string `json:"value"`
	Revision int64  `json:"revision"`
}

// ObserverConfig is the observer configuration as stored by
// `POST /api/v1/observer/config`, by scope.
type ObserverConfig struct {
	Global map[string]ConfigValue            `json:"global,omitempty"`
	Zone   map[string]map[string]ConfigValue `json:"zone,omitempty"`   // zone -> key -> value
	Server map[string]map[string]ConfigValue `json:"server,omitempty"` // agent "ip:port" -> key -> value
}

// ClusterConfig is what `POST /api/v1/obcluster/config` stored.
type ClusterConfig struct {
	Name   string `json:"cluster"`
	ID     int64  `json:"clusterId"`
	RsList string `json:"rsList,omitempty"`
}

// ServerAddr is an observer's RPC address, as named in BOOTSTRAP and ADD SERVER.
type ServerAddr struct {
	IP      string `json:"ip"`
	RPCPort int    `json:"rpcPort"`
}

// String renders the address as OceanBase's SQL names a server:
// "ip:port", or "[ip]:port" for IPv6.
func (s ServerAddr) String() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.RPCPort)) }

// Dirs are the observer directories of one host (obshell's fillDir).
type Dirs struct {
	HomePath string `json:"homePath"`
	DataDir  string `json:"data_dir"`
	RedoDir  string `json:"redo_dir"`
	ClogDir  string `json:"clog_dir"`
	SlogDir  string `json:"slog_dir"`
}

// ServerPlan is the resolved plan of one host after "Integrate config".
type ServerPlan struct {
	Host      Host              `json:"host"`
	Dirs      Dirs              `json:"dirs"`
	Config    map[string]string `json:"config"` // start options: cluster, cluster_id, zone, ports, ... (no dirs, no rootPwd)
	MySQLPort int               `json:"mysqlPort"`
	RPCPort   int               `json:"rpcPort"`
}
