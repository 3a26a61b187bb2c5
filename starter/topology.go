// Package starter is obflow's client side: it drives obshell's cluster-creation flow over HTTP
// (join self, join followers, observer config, cluster config with the root password, init), waits
// for each DAG with a live view, operates failed DAGs (RETRY, ROLLBACK, CANCEL, PASS) and explains
// failures in plain words. It talks to the agents only through package obshellclient, exactly as
// the official SDKs do, so it works against obshell as well as obflow.
package starter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// Topology is the cluster to create, read from an obd-like cluster.yaml:
//
//	cluster:
//	  name: obdemo
//	  id: 1
//	global:                    # observer config for every server (GLOBAL scope)
//	  memory_limit: 6G
//	servers:                   # the first server's agent is the master
//	  - ip: 10.0.0.1
//	    agent_port: 2886       # default 2886
//	    zone: zone1
//	    home_path: /home/admin/oceanbase   # optional; checked against the agent's
//	    config:                # observer config for this server (SERVER scope)
//	      mysql_port: 2881
//
// Everything is validated by Parse before any agent is contacted.
type Topology struct {
	Cluster ClusterSpec       `yaml:"cluster"`
	Global  map[string]string `yaml:"-"`
	Servers []Server          `yaml:"-"`
}

// ClusterSpec names the cluster.
type ClusterSpec struct {
	Name string `yaml:"name"`
	ID   int    `yaml:"id"`
}

// Server is one OBServer host and its agent.
type Server struct {
	IP        string
	AgentPort int
	Zone      string
	// HomePath, when set, must equal the home path the agent reports in /api/v1/info: it
	// catches a cluster.yaml that points at the wrong agent before anything is changed.
	HomePath string
	Config   map[string]string
}

// Agent is the server's agent address.
func (s Server) Agent() obcluster.Agent { return obcluster.Agent{IP: s.IP, Port: s.AgentPort} }

// Master is the server whose agent drives the flow (the first one).
func (t *Topology) Master() Server { return t.Servers[0] }

// Followers are the other servers, in file order.
func (t *Topology) Followers() []Server { return t.Servers[1:] }

// Zones are the distinct zones in file order.
func (t *Topology) Zones() []string {
	var zones []string
	for _, s := range t.Servers {
		if !slices.Contains(zones, s.Zone) {
			zones = append(zones, s.Zone)
		}
	}
	return zones
}

// The file's raw shape: config values stay YAML nodes until they are checked to be scalars.
type rawTopology struct {
	Cluster *ClusterSpec         `yaml:"cluster"`
	Global  map[string]yaml.Node `yaml:"global"`
	Servers []rawServer          `yaml:"servers"`
}

type rawServer struct {
	IP        string               `yaml:"ip"`
	AgentPort *int                 `yaml:"agent_port"`
	Zone      string               `yaml:"zone"`
	HomePath  string               `yaml:"home_path"`
	Config    map[string]yaml.Node `yaml:"config"`
	line      int
}

func (r *rawServer) UnmarshalYAML(n *yaml.Node) error {
	type plain rawServer
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	// Unknown keys: Decoder.KnownFields does not reach through a custom unmarshaler.
	if n.Kind == yaml.MappingNode {
		known := []string{"ip", "agent_port", "zone", "home_path", "config"}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; !slices.Contains(known, k) {
				return fmt.Errorf("line %d: unknown server field %q (known: %s)", n.Content[i].Line, k, strings.Join(known, ", "))
			}
		}
	}
	*r = rawServer(p)
	r.line = n.Line
	return nil
}

// ValidationError lists everything wrong with a topology file, so that one run shows all of it.
type ValidationError struct {
	File     string
	Problems []string
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return fmt.Sprintf("%s: %s", e.File, e.Problems[0])
	}
	return fmt.Sprintf("%s: %d problems: %s", e.File, len(e.Problems), strings.Join(e.Problems, "; "))
}

// LoadTopology reads and validates a topology file.
func LoadTopology(path string) (*Topology, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		// The *PathError already names the file and says what went wrong.
		return nil, fmt.Errorf("read topology: %w", err)
	}
	return ParseTopology(path, b)
}

// clusterNameRE is what obd and obshell accept as a cluster name.
var clusterNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,127}$`)

// zoneNameRE follows OceanBase's zone naming.
var zoneNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`)

// maxClusterID is OceanBase's upper bound of cluster_id.
const maxClusterID = 4294901759

// ParseTopology parses and validates a topology; name is used in messages.
func ParseTopology(name string, data []byte) (*Topology, error) {
	var raw rawTopology
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ValidationError{File: name, Problems: []string{"the file is empty"}}
		}
		return nil, &ValidationError{File: name, Problems: []string{yamlMessage(err)}}
	}
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }

	t := &Topology{}
	if raw.Cluster == nil {
		add("cluster: missing (cluster.name and cluster.id are required)")
	} else {
		t.Cluster = *raw.Cluster
		if !clusterNameRE.MatchString(t.Cluster.Name) {
			add("cluster.name %q: must start with a letter and hold only letters, digits and _ (at most 128)", t.Cluster.Name)
		}
		if t.Cluster.ID <= 0 || t.Cluster.ID > maxClusterID {
			add("cluster.id %d: must be between 1 and %d", t.Cluster.ID, maxClusterID)
		}
	}
	var err error
	if t.Global, err = configValues("global", raw.Global); err != nil {
		add("%v", err)
	}
	if len(raw.Servers) == 0 {
		add("servers: at least one server is required")
	}
	seen := map[string]int{}
	for i, rs := range raw.Servers {
		where := fmt.Sprintf("servers[%d] (line %d)", i, rs.line)
		s := Server{IP: rs.IP, AgentPort: obcluster.DefaultAgentPort, Zone: rs.Zone, HomePath: rs.HomePath}
		if rs.AgentPort != nil {
			s.AgentPort = *rs.AgentPort
		}
		ip := net.ParseIP(rs.IP)
		switch {
		case rs.IP == "":
			add("%s: ip is required", where)
		case ip == nil:
			add("%s: ip %q is not an IP address", where, rs.IP)
		case ip.IsUnspecified():
			add("%s: ip %q cannot be used to reach an agent", where, rs.IP)
		}
		if s.AgentPort < 1024 || s.AgentPort > 65535 {
			add("%s: agent_port %d: must be between 1024 and 65535", where, s.AgentPort)
		}
		if rs.Zone == "" {
			add("%s: zone is required", where)
		} else if !zoneNameRE.MatchString(rs.Zone) {
			add("%s: zone %q: must start with a letter or _ and hold only letters, digits and _", where, rs.Zone)
		}
		if rs.HomePath != "" && !strings.HasPrefix(rs.HomePath, "/") {
			add("%s: home_path %q must be absolute", where, rs.HomePath)
		}
		if ip != nil {
			key := s.Agent().String()
			if j, dup := seen[key]; dup {
				add("%s: agent %s is already servers[%d]", where, key, j)
			}
			seen[key] = i
		}
		if s.Config, err = configValues(where+".config", rs.Config); err != nil {
			add("%v", err)
		}
		t.Servers = append(t.Servers, s)
	}
	if len(probs) > 0 {
		return nil, &ValidationError{File: name, Problems: probs}
	}
	return t, nil
}

// configValues turns a map of YAML scalars into observer config strings, rejecting nested values
// and the keys obshell refuses (they are set by the flow itself).
func configValues(where string, m map[string]yaml.Node) (map[string]string, error) {
	out := make(map[string]string, len(m))
	var probs []string
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := m[k]
		if slices.Contains(obshell.DeniedConfigKeys, k) {
			probs = append(probs, fmt.Sprintf("%s.%s (line %d): %q is set by the flow itself and cannot be configured", where, k, n.Line, k))
			continue
		}
		if n.Kind != yaml.ScalarNode {
			probs = append(probs, fmt.Sprintf("%s.%s (line %d): must be a single value, not a list or a map", where, k, n.Line))
			continue
		}
		if n.Tag == "!!null" {
			probs = append(probs, fmt.Sprintf("%s.%s (line %d): has no value", where, k, n.Line))
			continue
		}
		out[k] = n.Value
	}
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "; "))
	}
	return out, nil
}

// yamlMessage flattens yaml.v3's multi-line errors to one line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return "bad YAML: " + strings.Join(te.Errors, "; ")
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return "bad YAML: " + strings.ReplaceAll(msg, "\n", "; ")
}

// MarshalYAML writes a topology in the file format ParseTopology reads (used by the demo to write
// the cluster.yaml of the dev stack for the user to reuse).
func (t *Topology) MarshalYAML() (any, error) {
	type server struct {
		IP        string            `yaml:"ip"`
		AgentPort int               `yaml:"agent_port"`
		Zone      string            `yaml:"zone"`
		HomePath  string            `yaml:"home_path,omitempty"`
		Config    map[string]string `yaml:"config,omitempty"`
	}
	out := struct {
		Cluster ClusterSpec       `yaml:"cluster"`
		Global  map[string]string `yaml:"global,omitempty"`
		Servers []server          `yaml:"servers"`
	}{Cluster: t.Cluster, Global: t.Global}
	for _, s := range t.Servers {
		out.Servers = append(out.Servers, server{s.IP, s.AgentPort, s.Zone, s.HomePath, s.Config})
	}
	return out, nil
}

// MySQLPort is the server's MySQL port: its own mysql_port, else the global one, else 2881.
func (t *Topology) MySQLPort(s Server) int {
	for _, cfg := range []map[string]string{s.Config, t.Global} {
		if v, ok := cfg["mysql_port"]; ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= math.MaxUint16 {
				return n
			}
		}
	}
	return 2881
}
