package starter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const goodTopology = `
cluster:
  name: obdemo
  id: 7
global:
  memory_limit: 6G
  datafile_size: 2G
  enable_syslog_recycle: true
servers:
  - ip: 10.0.0.1
    zone: zone1
    home_path: /home/admin/ob
    config:
      mysql_port: 3881
  - ip: 10.0.0.2
    agent_port: 2887
    zone: zone2
  - ip: 10.0.0.3
    zone: zone2
`

func TestParseTopology(t *testing.T) {
	topo, err := ParseTopology("cluster.yaml", []byte(goodTopology))
	if err != nil {
		t.Fatal(err)
	}
	if topo.Cluster.Name != "obdemo" || topo.Cluster.ID != 7 {
		t.Errorf("cluster = %+v", topo.Cluster)
	}
	if got := topo.Master().Agent().String(); got != "10.0.0.1:2886" {
		t.Errorf("master = %s, want the first server with the default port", got)
	}
	if got := topo.Servers[1].Agent().String(); got != "10.0.0.2:2887" {
		t.Errorf("servers[1] = %s", got)
	}
	if len(topo.Followers()) != 2 {
		t.Errorf("followers = %v", topo.Followers())
	}
	if z := topo.Zones(); strings.Join(z, ",") != "zone1,zone2" {
		t.Errorf("zones = %v", z)
	}
	// Scalars of any YAML type become the observer config's strings, as obd writes them.
	if topo.Global["memory_limit"] != "6G" || topo.Global["enable_syslog_recycle"] != "true" {
		t.Errorf("global = %v", topo.Global)
	}
	if topo.MySQLPort(topo.Servers[0]) != 3881 || topo.MySQLPort(topo.Servers[1]) != 2881 {
		t.Errorf("mysql ports = %d, %d", topo.MySQLPort(topo.Servers[0]), topo.MySQLPort(topo.Servers[1]))
	}

	// What MarshalYAML writes parses back to the same topology.
	out, err := yaml.Marshal(topo)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseTopology("again", out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if again.Servers[1].AgentPort != 2887 || again.Servers[0].HomePath != "/home/admin/ob" || again.Global["datafile_size"] != "2G" {
		t.Errorf("round trip lost data:\n%s", out)
	}
}

func TestParseTopologyErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the one-line message
	}{
		{"empty", "", []string{"the file is empty"}},
		{"not yaml", "cluster: [", []string{"bad YAML"}},
		{"wrong type", "cluster:\n  name: x\n  id: one\nservers: []\n", []string{"bad YAML", "line 3", "!!str `one`"}},
		{"unknown top-level key", "clusters: {}\n", []string{"bad YAML", "field clusters not found"}},
		{"unknown server key", "cluster: {name: a, id: 1}\nservers:\n  - ip: 10.0.0.1\n    zone: z\n    port: 1\n", []string{`unknown server field "port"`, "line 5"}},
		{"no cluster, no servers", "global: {}\n", []string{"cluster: missing", "at least one server"}},
		{"bad cluster", "cluster: {name: 1abc, id: 0}\nservers: [{ip: 10.0.0.1, zone: z}]\n", []string{`cluster.name "1abc"`, "cluster.id 0"}},
		{"bad server", "cluster: {name: a, id: 1}\nservers:\n  - {ip: 10.0.0.300, zone: z}\n  - {ip: 0.0.0.0, zone: z}\n  - {zone: 'z-1', agent_port: 80}\n",
			[]string{`"10.0.0.300" is not an IP address`, "cannot be used", "ip is required", "agent_port 80", `zone "z-1"`}},
		{"no zone", "cluster: {name: a, id: 1}\nservers: [{ip: 10.0.0.1}]\n", []string{"servers[0] (line 2): zone is required"}},
		{"duplicate", "cluster: {name: a, id: 1}\nservers: [{ip: 10.0.0.1, zone: z}, {ip: 10.0.0.1, agent_port: 2886, zone: y}]\n", []string{"agent 10.0.0.1:2886 is already servers[0]"}},
		{"relative home", "cluster: {name: a, id: 1}\nservers: [{ip: 10.0.0.1, zone: z, home_path: ob}]\n", []string{`home_path "ob" must be absolute`}},
		{"denied and nested config", "cluster: {name: a, id: 1}\nglobal:\n  zone: z\n  x: [1]\n  y:\nservers: [{ip: 10.0.0.1, zone: z}]\n",
			[]string{`global.zone (line 3): "zone" is set by the flow`, "global.x (line 4): must be a single value", "global.y (line 5): has no value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTopology("c.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message has several lines: %q", msg)
			}
			if !strings.HasPrefix(msg, "c.yaml: ") {
				t.Errorf("message does not name the file: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestLoadTopologyMissingFile(t *testing.T) {
	_, err := LoadTopology(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
