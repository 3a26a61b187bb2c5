package activities

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/obflow/obflow/internal/obcluster"
)

func hosts3() []obcluster.Host {
	return []obcluster.Host{
		{Agent: obcluster.Agent{IP: "10.0.0.1", Port: 2886}, Zone: "z1", HomePath: "/ob/1"},
		{Agent: obcluster.Agent{IP: "10.0.0.2", Port: 2886}, Zone: "z2", HomePath: "/ob/2"},
		{Agent: obcluster.Agent{IP: "10.0.0.3", Port: 2886}, Zone: "z3", HomePath: "/ob/3"},
	}
}

func appErr(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an ApplicationError", err)
	}
	return ae
}

func TestMergeConfig(t *testing.T) {
	tests := []struct {
		name                 string
		global, zone, server map[string]obcluster.ConfigValue
		want                 map[string]string
	}{
		{"empty", nil, nil, nil, map[string]string{}},
		{"global only", map[string]obcluster.ConfigValue{"a": {Value: "1", Revision: 1}}, nil, nil, map[string]string{"a": "1"}},
		{"later server wins", map[string]obcluster.ConfigValue{"a": {Value: "g", Revision: 1}}, map[string]obcluster.ConfigValue{"a": {Value: "z", Revision: 2}}, map[string]obcluster.ConfigValue{"a": {Value: "s", Revision: 3}}, map[string]string{"a": "s"}},
		{"later global wins over older server", map[string]obcluster.ConfigValue{"a": {Value: "g", Revision: 5}}, nil, map[string]obcluster.ConfigValue{"a": {Value: "s", Revision: 3}}, map[string]string{"a": "g"}},
		{"tie goes to the broader scope", map[string]obcluster.ConfigValue{"a": {Value: "g", Revision: 2}}, map[string]obcluster.ConfigValue{"a": {Value: "z", Revision: 2}}, nil, map[string]string{"a": "g"}},
		{"disjoint keys merge", map[string]obcluster.ConfigValue{"a": {Value: "1", Revision: 1}}, map[string]obcluster.ConfigValue{"b": {Value: "2", Revision: 1}}, map[string]obcluster.ConfigValue{"c": {Value: "3", Revision: 1}}, map[string]string{"a": "1", "b": "2", "c": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeConfig(tt.global, tt.zone, tt.server); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFillDir(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]string
		want obcluster.Dirs
	}{
		{"defaults", map[string]string{keyHomePath: "/h"}, obcluster.Dirs{HomePath: "/h", DataDir: "/h/store", RedoDir: "/h/store", ClogDir: "/h/store/clog", SlogDir: "/h/store/slog"}},
		{"data dir", map[string]string{keyHomePath: "/h", keyDataDir: "/data"}, obcluster.Dirs{HomePath: "/h", DataDir: "/data", RedoDir: "/data", ClogDir: "/data/clog", SlogDir: "/data/slog"}},
		{"redo dir", map[string]string{keyHomePath: "/h", keyDataDir: "/data", keyRedoDir: "/redo"}, obcluster.Dirs{HomePath: "/h", DataDir: "/data", RedoDir: "/redo", ClogDir: "/redo/clog", SlogDir: "/data/slog"}},
		{"all set", map[string]string{keyHomePath: "/h", keyDataDir: "/d", keyRedoDir: "/r", keyClogDir: "/c", keySlogDir: "/s"}, obcluster.Dirs{HomePath: "/h", DataDir: "/d", RedoDir: "/r", ClogDir: "/c", SlogDir: "/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fillDir(tt.cfg); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIntegrateConfig(t *testing.T) {
	in := IntegrateConfigInput{
		Master:  obcluster.Agent{IP: "10.0.0.2", Port: 2886},
		Hosts:   hosts3(),
		Cluster: obcluster.ClusterConfig{Name: "c1", ID: 7},
		Observer: obcluster.ObserverConfig{
			Global: map[string]obcluster.ConfigValue{"memory_limit": {Value: "8G", Revision: 1}, "rpc_port": {Value: "3882", Revision: 1}, "data_dir": {Value: "/data", Revision: 1}},
			Zone:   map[string]map[string]obcluster.ConfigValue{"z1": {"memory_limit": {Value: "16G", Revision: 2}}},
			Server: map[string]map[string]obcluster.ConfigValue{"10.0.0.3:2886": {"mysql_port": {Value: "3881", Revision: 3}, "zone": {Value: "evil", Revision: 9}}},
		},
	}
	res, err := integrate(in, &logbook{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Servers) != 3 {
		t.Fatalf("servers: %d", len(res.Servers))
	}
	s1, s3 := res.Servers[0], res.Servers[2]
	wantCfg1 := map[string]string{"cluster": "c1", "cluster_id": "7", "zone": "z1", "memory_limit": "16G", "mysql_port": "2881", "rpc_port": "3882"}
	if !reflect.DeepEqual(s1.Config, wantCfg1) {
		t.Errorf("host1 config %v, want %v", s1.Config, wantCfg1)
	}
	if s1.Dirs != (obcluster.Dirs{HomePath: "/ob/1", DataDir: "/data", RedoDir: "/data", ClogDir: "/data/clog", SlogDir: "/data/slog"}) {
		t.Errorf("host1 dirs %+v", s1.Dirs)
	}
	if s3.Config["zone"] != "z3" || s3.MySQLPort != 3881 || s3.RPCPort != 3882 || s3.Config["memory_limit"] != "8G" {
		t.Errorf("host3 %+v", s3)
	}
	if !reflect.DeepEqual(res.Zones, []string{"z2", "z1", "z3"}) {
		t.Errorf("zones %v", res.Zones)
	}
	if res.ZoneRS["z2"] != (obcluster.ServerAddr{IP: "10.0.0.2", RPCPort: 3882}) || res.ZoneRS["z1"] != (obcluster.ServerAddr{IP: "10.0.0.1", RPCPort: 3882}) {
		t.Errorf("zoneRS %v", res.ZoneRS)
	}
	if len(res.Logs) == 0 {
		t.Error("no logs")
	}
}

func TestIntegrateConfigRS(t *testing.T) {
	hosts := []obcluster.Host{
		{Agent: obcluster.Agent{IP: "10.0.0.1", Port: 2886}, Zone: "z1", HomePath: "/ob/1"},
		{Agent: obcluster.Agent{IP: "10.0.0.2", Port: 2886}, Zone: "z2", HomePath: "/ob/2"},
		{Agent: obcluster.Agent{IP: "10.0.0.3", Port: 2886}, Zone: "z1", HomePath: "/ob/3"},
		{Agent: obcluster.Agent{IP: "10.0.0.4", Port: 2886}, Zone: "z3", HomePath: "/ob/4"},
		{Agent: obcluster.Agent{IP: "10.0.0.5", Port: 2886}, Zone: "z2", HomePath: "/ob/5"},
	}
	tests := []struct {
		name   string
		master int
		rsList string
		zones  []string
		zoneRS map[string]string
		unRS   map[string][]string
		errIn  string
	}{
		{name: "master zone first, then hosts order", master: 4, zones: []string{"z2", "z1", "z3"},
			zoneRS: map[string]string{"z2": "10.0.0.5:2882", "z1": "10.0.0.1:2882", "z3": "10.0.0.4:2882"},
			unRS:   map[string][]string{"z2": {"10.0.0.2:2882"}, "z1": {"10.0.0.3:2882"}}},
		{name: "master first host", master: 0, zones: []string{"z1", "z2", "z3"},
			zoneRS: map[string]string{"z1": "10.0.0.1:2882", "z2": "10.0.0.2:2882", "z3": "10.0.0.4:2882"},
			unRS:   map[string][]string{"z1": {"10.0.0.3:2882"}, "z2": {"10.0.0.5:2882"}}},
		{name: "rs list order", master: 0, rsList: "10.0.0.4:2882:2881;10.0.0.3:2882:2881;10.0.0.5:2882:2881", zones: []string{"z3", "z1", "z2"},
			zoneRS: map[string]string{"z3": "10.0.0.4:2882", "z1": "10.0.0.3:2882", "z2": "10.0.0.5:2882"},
			unRS:   map[string][]string{"z1": {"10.0.0.1:2882"}, "z2": {"10.0.0.2:2882"}}},
		{name: "rs list not in cluster", master: 0, rsList: "10.0.0.9:2882:2881", errIn: "rs_list '10.0.0.9:2882:2881' is invalid: 10.0.0.9:2882:2881 not in cluster"},
		{name: "rs list wrong rpc port", master: 0, rsList: "10.0.0.1:2883:2881", errIn: "10.0.0.1:2883:2881 not in cluster"},
		{name: "rs list mysql port", master: 0, rsList: "10.0.0.1:2882:2889", errIn: "10.0.0.1:2882:2889 mysql port not match"},
		{name: "rs list two in a zone", master: 0, rsList: "10.0.0.1:2882:2881;10.0.0.3:2882:2881", errIn: "z1 has more than one rootserver"},
		{name: "rs list zone missing", master: 0, rsList: "10.0.0.1:2882:2881;10.0.0.2:2882:2881", errIn: "z3 has no rootserver"},
		{name: "rs list empty entry", master: 0, rsList: "10.0.0.1:2882:2881;;10.0.0.2:2882:2881", errIn: "has empty rsServer"},
		{name: "rs list malformed", master: 0, rsList: "10.0.0.1:2882", errIn: "is not a valid rsServer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := IntegrateConfigInput{Master: hosts[tt.master].Agent, Hosts: hosts, Cluster: obcluster.ClusterConfig{Name: "c", ID: 1, RsList: tt.rsList}}
			res, err := integrate(in, &logbook{})
			if tt.errIn != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tt.errIn)
				}
				ae := appErr(t, err)
				if ae.Type() != ErrRsListInvalid || !strings.Contains(ae.Error(), tt.errIn) || !ae.NonRetryable() {
					t.Fatalf("got %s %q (non-retryable %v), want %s containing %q", ae.Type(), ae.Error(), ae.NonRetryable(), ErrRsListInvalid, tt.errIn)
				}
				var logs []string
				if err := ae.Details(&logs); err != nil || len(logs) == 0 {
					t.Fatalf("details: %v %v", logs, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Zones, tt.zones) {
				t.Errorf("zones %v, want %v", res.Zones, tt.zones)
			}
			gotRS := map[string]string{}
			for z, a := range res.ZoneRS {
				gotRS[z] = a.String()
			}
			if !reflect.DeepEqual(gotRS, tt.zoneRS) {
				t.Errorf("zoneRS %v, want %v", gotRS, tt.zoneRS)
			}
			gotUn := map[string][]string{}
			for z, as := range res.UnRS {
				for _, a := range as {
					gotUn[z] = append(gotUn[z], a.String())
				}
			}
			if !reflect.DeepEqual(gotUn, tt.unRS) {
				t.Errorf("unRS %v, want %v", gotUn, tt.unRS)
			}
		})
	}
}

func TestParseRsListIPv6(t *testing.T) {
	got, err := parseRsList("[::1]:2882:2881;10.0.0.1:3882:3881")
	if err != nil {
		t.Fatal(err)
	}
	want := []rsEntry{{"::1", 2882, 2881}, {"10.0.0.1", 3882, 3881}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	for _, bad := range []string{"[::1]2882:2881", "x:1:2", "10.0.0.1:a:1", "10.0.0.1:1:2:3", "10.0.0.1:0:1", ""} {
		if _, err := parseRsList(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestIntegrateConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   IntegrateConfigInput
		code string
		msg  string
	}{
		{"port not a number", IntegrateConfigInput{Master: hosts3()[0].Agent, Hosts: hosts3(), Observer: obcluster.ObserverConfig{Global: map[string]obcluster.ConfigValue{"mysql_port": {Value: "abc", Revision: 1}}}}, ErrCommonInvalidPort, "The port 'abc' is invalid, must be in [1024, 65535]"},
		{"port too low", IntegrateConfigInput{Master: hosts3()[0].Agent, Hosts: hosts3(), Observer: obcluster.ObserverConfig{Global: map[string]obcluster.ConfigValue{"rpc_port": {Value: "1024", Revision: 1}}}}, ErrCommonInvalidPort, "The port '1024' is invalid"},
		{"port too high", IntegrateConfigInput{Master: hosts3()[0].Agent, Hosts: hosts3(), Observer: obcluster.ObserverConfig{Server: map[string]map[string]obcluster.ConfigValue{"10.0.0.2:2886": {"rpc_port": {Value: "65536", Revision: 1}}}}}, ErrCommonInvalidPort, "'65536'"},
		{"master not joined", IntegrateConfigInput{Master: obcluster.Agent{IP: "10.9.9.9", Port: 2886}, Hosts: hosts3()}, ErrAgentNotExist, "Server '10.9.9.9:2886' does not exist"},
		{"no hosts", IntegrateConfigInput{Master: obcluster.Agent{IP: "10.9.9.9", Port: 2886}}, ErrCommonIllegalArgument, "no agent"},
		{"duplicate host", IntegrateConfigInput{Master: hosts3()[0].Agent, Hosts: append(hosts3(), hosts3()[0])}, ErrCommonIllegalArgument, "joined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := integrate(tt.in, &logbook{})
			if err == nil {
				t.Fatal("no error")
			}
			ae := appErr(t, err)
			if ae.Type() != tt.code || !strings.Contains(ae.Error(), tt.msg) {
				t.Fatalf("got %s %q, want %s %q", ae.Type(), ae.Error(), tt.code, tt.msg)
			}
		})
	}
	// Port 1025 is the lowest obshell accepts.
	in := IntegrateConfigInput{Master: hosts3()[0].Agent, Hosts: hosts3(), Observer: obcluster.ObserverConfig{Global: map[string]obcluster.ConfigValue{"rpc_port": {Value: "1025", Revision: 1}}}}
	if res, err := integrate(in, &logbook{}); err != nil || res.Servers[0].RPCPort != 1025 {
		t.Fatalf("1025: %v %+v", err, res.Servers)
	}
}
