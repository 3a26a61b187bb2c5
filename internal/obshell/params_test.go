package obshell

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
)

func apiOf(t *testing.T, err error) (int, *APIError) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	return ToAPIError(err)
}

func TestBindJSONCaseInsensitive(t *testing.T) {
	for _, body := range []string{
		`{"AgentInfo":{"ip":"127.0.3.1","port":2886},"zoneName":"zone1"}`,                       // Go SDK
		`{"agentInfo":{"ip":"127.0.3.1","port":2886},"zoneName":"zone1","masterPassword":null}`, // Python SDK
		`{"AGENTINFO":{"IP":"127.0.3.1","Port":2886},"ZONENAME":"zone1"}`,
	} {
		var p JoinApiParam
		if err := BindJSON([]byte(body), &p); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if p.AgentInfo != (obcluster.Agent{IP: "127.0.3.1", Port: 2886}) || p.ZoneName != "zone1" {
			t.Fatalf("%s → %+v", body, p)
		}
	}
	var op DagOperator
	if err := BindJSON([]byte(`{"Operator":"retry"}`), &op); err != nil || op.Operator != "retry" {
		t.Fatalf("operator: %+v %v", op, err)
	}
}

func TestBindJSONErrors(t *testing.T) {
	tests := []struct {
		body string
		v    any
		msg  string
	}{
		{`{}`, &JoinApiParam{}, "Bind JSON failed: Key: 'JoinApiParam.AgentInfo.Ip' Error:Field validation for 'Ip' failed on the 'required' tag\n" +
			"Key: 'JoinApiParam.AgentInfo.Port' Error:Field validation for 'Port' failed on the 'required' tag\n" +
			"Key: 'JoinApiParam.ZoneName' Error:Field validation for 'ZoneName' failed on the 'required' tag"},
		{``, &DagOperator{}, "Bind JSON failed: Key: 'DagOperator.Operator' Error:Field validation for 'Operator' failed on the 'required' tag"},
		{`{"restart":true}`, &ObServerConfigParams{}, "Bind JSON failed: Key: 'ObServerConfigParams.ObServerConfig' Error:Field validation for 'ObServerConfig' failed on the 'required' tag"},
		{`{"ip":"1.1.1.1"}`, &AgentRemoveParam{}, "Bind JSON failed: Key: 'AgentInfo.Port' Error:Field validation for 'Port' failed on the 'required' tag"},
		{`{"operator":"PASS"`, &NodeOperator{}, "Bind JSON failed: unexpected EOF"},
		{`{"clusterId":"1"}`, &ObClusterConfigParams{}, "Bind JSON failed: json: cannot unmarshal string into Go struct field ObClusterConfigParams.clusterId of type int"},
		{`{"observerConfig":{"memory_limit":8}}`, &ObServerConfigParams{}, "Bind JSON failed: json: cannot unmarshal number into Go struct field ObServerConfigParams.observerConfig of type string"},
		{`[]`, &ObInitParam{}, "Bind JSON failed: json: cannot unmarshal array into Go value of type obshell.ObInitParam"},
		{`{x}`, &ObInitParam{}, "Bind JSON failed: invalid character 'x' looking for beginning of object key string"},
	}
	for _, tt := range tests {
		status, api := apiOf(t, BindJSON([]byte(tt.body), tt.v))
		if status != 400 || api.ErrCode != "Common.BindJsonFailed" {
			t.Errorf("%s: %d %+v", tt.body, status, api)
		}
		// encoding/json's wording varies between Go releases; the prefix and field are what matter.
		if api.Message != tt.msg && !(strings.HasPrefix(tt.msg, "Bind JSON failed: json:") && strings.HasPrefix(api.Message, "Bind JSON failed: json:")) {
			t.Errorf("%s:\n got %q\nwant %q", tt.body, api.Message, tt.msg)
		}
	}
	// Empty body is {}: init has no required field.
	var init ObInitParam
	if err := BindJSON(nil, &init); err != nil || init != (ObInitParam{}) {
		t.Fatalf("empty init body: %v", err)
	}
}

func TestObClusterConfigCheck(t *testing.T) {
	id, zero, name, empty := 1, 0, "c1", ""
	tests := []struct {
		p    ObClusterConfigParams
		code ErrorCode
	}{
		{ObClusterConfigParams{}, CodeOBClusterIDInvalid},
		{ObClusterConfigParams{ClusterID: &zero, ClusterName: &name}, CodeOBClusterIDInvalid},
		{ObClusterConfigParams{ClusterID: &id}, CodeOBClusterNameEmpty},
		{ObClusterConfigParams{ClusterID: &id, ClusterName: &empty}, CodeOBClusterNameEmpty},
	}
	for _, tt := range tests {
		if err := tt.p.Check(); !HasCode(err, tt.code) {
			t.Errorf("%+v: %v", tt.p, err)
		}
	}
	if err := (ObClusterConfigParams{ClusterID: &id, ClusterName: &name}).Check(); err != nil {
		t.Fatal(err)
	}
	var p ObClusterConfigParams
	if err := BindJSON([]byte(`{"clusterName":"c","clusterId":7,"rootPwd":""}`), &p); err != nil ||
		*p.ClusterID != 7 || *p.ClusterName != "c" || p.RootPwd == nil || *p.RootPwd != "" || p.RsList != nil {
		t.Fatalf("pointer fields: %+v %v", p, err)
	}
}

func TestObServerConfigChecks(t *testing.T) {
	_, api := apiOf(t, ObServerConfigParams{ObServerConfig: map[string]string{}}.Check())
	if api.Message != "The input parameter 'observerConfig' is illegal: config is empty" {
		t.Fatal(api.Message)
	}
	for _, k := range DeniedConfigKeys {
		status, api := apiOf(t, ObServerConfigParams{ObServerConfig: map[string]string{"memory_limit": "8G", k: "x"}}.Check())
		if status != 400 || api.ErrCode != "Common.IllegalArgument" ||
			api.Message != "The input parameter 'observerConfig' is illegal: config "+k+" is not allowed to set" {
			t.Fatalf("%s: %+v", k, api)
		}
	}
	if err := (ObServerConfigParams{ObServerConfig: map[string]string{"memory_limit": "8G"}}).Check(); err != nil {
		t.Fatal(err)
	}

	m := map[string]string{"rpcPort": "2882", "mysqlPort": "2881", "x": "y"}
	if err := NormalizeLegacyPorts(m); err != nil || !reflect.DeepEqual(m, map[string]string{"rpc_port": "2882", "mysql_port": "2881", "x": "y"}) {
		t.Fatalf("legacy mapping: %v %v", m, err)
	}
	m = map[string]string{"rpcPort": "2882", "rpc_port": "2882"}
	if err := NormalizeLegacyPorts(m); err != nil || !reflect.DeepEqual(m, map[string]string{"rpc_port": "2882"}) {
		t.Fatalf("equal values: %v %v", m, err)
	}
	_, api = apiOf(t, NormalizeLegacyPorts(map[string]string{"rpcPort": "1", "rpc_port": "2"}))
	if api.Message != "The input parameter 'observerConfig' is illegal: You cannot set both rpc_port and rpcPort, use rpc_port instead." {
		t.Fatal(api.Message)
	}
	_, api = apiOf(t, NormalizeLegacyPorts(map[string]string{"mysqlPort": "1", "mysql_port": "2"}))
	if api.Message != "The input parameter 'observerConfig' is illegal: You cannot set both mysql_port and mysqlPort, use mysql_port instead." {
		t.Fatal(api.Message)
	}
}

type fakeChecker struct {
	zones  map[string]bool
	agents map[obcluster.Agent]bool
	err    error
}

func (f fakeChecker) ZoneExists(_ context.Context, z string) (bool, error) { return f.zones[z], f.err }
func (f fakeChecker) AgentExists(_ context.Context, a obcluster.Agent) (bool, error) {
	return f.agents[a], f.err
}

func TestValidateScope(t *testing.T) {
	ctx := context.Background()
	chk := fakeChecker{zones: map[string]bool{"zone1": true}, agents: map[obcluster.Agent]bool{{IP: "127.0.3.1", Port: 2886}: true, {IP: "::1", Port: 2886}: true}}
	s := Scope{Type: "server", Target: []string{"127.0.3.1", "127.0.3.1:2886", "127.0.3.1"}}
	if err := ValidateScope(ctx, &s, chk); err != nil || s.Type != "SERVER" || !reflect.DeepEqual(s.Target, []string{"127.0.3.1", "127.0.3.1:2886"}) {
		t.Fatalf("server scope: %+v %v", s, err)
	}
	tests := []struct {
		s       Scope
		errCode string
		msg     string
	}{
		{Scope{Type: "zone"}, "Common.IllegalArgument", "The input parameter 'target' is illegal: target is empty"},
		{Scope{Type: "SERVER", Target: []string{}}, "Common.IllegalArgument", "The input parameter 'target' is illegal: target is empty"},
		{Scope{Type: "Zone", Target: []string{"zone9"}}, "OB.Zone.NotExist", "Zone 'zone9' does not exist"},
		{Scope{Type: "SERVER", Target: []string{"127.0.3.9:2886"}}, "Agent.NotExist", "Server '127.0.3.9:2886' does not exist"},
		{Scope{Type: "SERVER", Target: []string{"127.0.3.1:80"}}, "Common.InvalidPort", "The port '80' is invalid, must be in [1024, 65535]"},
		{Scope{Type: "region"}, "OB.Cluster.Scope.Invalid", "Scope 'REGION' is invalid"},
		{Scope{}, "OB.Cluster.Scope.Invalid", "Scope '' is invalid"},
	}
	for _, tt := range tests {
		s := tt.s
		status, api := apiOf(t, ValidateScope(ctx, &s, chk))
		if status != 400 || api.ErrCode != tt.errCode || api.Message != tt.msg {
			t.Errorf("%+v: %d %+v", tt.s, status, api)
		}
	}
	for _, ok := range []Scope{{Type: "global"}, {Type: "ZONE", Target: []string{"zone1"}}, {Type: "server", Target: []string{"[::1]:2886"}}} {
		if err := ValidateScope(ctx, &ok, chk); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	boom := errors.New("registry down")
	s = Scope{Type: "ZONE", Target: []string{"zone1"}}
	if err := ValidateScope(ctx, &s, fakeChecker{err: boom}); !errors.Is(err, boom) {
		t.Fatalf("checker error: %v", err)
	}
	s = Scope{Type: "ZONE", Target: []string{"anything"}}
	if err := ValidateScope(ctx, &s, nil); err != nil {
		t.Fatalf("nil checker: %v", err)
	}
}

func TestParseAgentAddress(t *testing.T) {
	good := map[string]obcluster.Agent{
		"127.0.3.1":       {IP: "127.0.3.1", Port: 2886},
		"127.0.3.1:2887":  {IP: "127.0.3.1", Port: 2887},
		"127.0.3.1:1024":  {IP: "127.0.3.1", Port: 1024},
		"::1":             {IP: "::1", Port: 2886},
		"[::1]":           {IP: "::1", Port: 2886},
		"[fe80::1]:65535": {IP: "fe80::1", Port: 65535},
		"2001:db8::7":     {IP: "2001:db8::7", Port: 2886},
	}
	for in, want := range good {
		got, err := ParseAgentAddress(in)
		if err != nil || got != want {
			t.Errorf("%q → %+v, %v", in, got, err)
		}
	}
	bad := map[string][2]string{
		"":               {"Common.InvalidAddress", "'' is not a valid address"},
		"1.2.3.4:5:6":    {"Common.InvalidAddress", "'1.2.3.4:5:6' is not a valid address"},
		"1.2.3.4:1023":   {"Common.InvalidPort", "The port '1023' is invalid, must be in [1024, 65535]"},
		"1.2.3.4:65536":  {"Common.InvalidPort", "The port '65536' is invalid, must be in [1024, 65535]"},
		"1.2.3.4:+2886":  {"Common.InvalidPort", "The port '+2886' is invalid, must be in [1024, 65535]"},
		"1.2.3:2886":     {"Common.InvalidIp", "'1.2.3' is not a valid IP address"},
		"zone1":          {"Common.InvalidIp", "'zone1' is not a valid IP address"},
		"[::1":           {"Common.InvalidAddress", "'[::1' is not a valid address"},
		"[::1]x":         {"Common.InvalidAddress", "'[::1]x' is not a valid address"},
		"[1.2.3.4]:2886": {"Common.InvalidIp", "'1.2.3.4' is not a valid IP address"},
		"[::1]:99":       {"Common.InvalidPort", "The port '99' is invalid, must be in [1024, 65535]"},
	}
	for in, want := range bad {
		_, err := ParseAgentAddress(in)
		status, api := apiOf(t, err)
		if status != 400 || api.ErrCode != want[0] || api.Message != want[1] {
			t.Errorf("%q → %d %+v, want %v", in, status, api, want)
		}
	}
}

func TestParseRsList(t *testing.T) {
	got, err := ParseRsList("127.0.3.1:2882:2881;[::1]:2882:2881")
	want := []RsServer{{"127.0.3.1", 2882, 2881}, {"::1", 2882, 2881}}
	if err != nil || !reflect.DeepEqual(got, want) || got[1].String() != "[::1]:2882:2881" || got[0].String() != "127.0.3.1:2882:2881" {
		t.Fatalf("%+v %v", got, err)
	}
	bad := map[string]string{
		"":               "rs_list '' is invalid: has empty rsServer",
		"1.1.1.1:1:2;":   "rs_list '1.1.1.1:1:2;' is invalid: has empty rsServer",
		"1.1.1.1:2882":   "rs_list '1.1.1.1:2882' is invalid: 1.1.1.1:2882",
		"1.1.1.1:x:2881": "rs_list '1.1.1.1:x:2881' is invalid: 1.1.1.1:x:2881",
		"[::1]2882:2881": "rs_list '[::1]2882:2881' is invalid: [::1]2882:2881",
		"[::1]:2882":     "rs_list '[::1]:2882' is invalid: [::1]:2882",
		"host:2882:2881": "rs_list 'host:2882:2881' is invalid: host:2882:2881",
		"1.1.1.1:0:2881": "rs_list '1.1.1.1:0:2881' is invalid: 1.1.1.1:0:2881",
	}
	for in, msg := range bad {
		_, err := ParseRsList(in)
		status, api := apiOf(t, err)
		if status != 400 || api.ErrCode != "OB.Parameter.RsList.Invalid" || api.Message != msg {
			t.Errorf("%q → %d %+v", in, status, api)
		}
	}
}

func TestOperatorsAndQuery(t *testing.T) {
	for in, want := range map[string]obcluster.Operator{"RETRY": obcluster.OperatorRetry, "rollback": obcluster.OperatorRollback, "Cancel": obcluster.OperatorCancel, "pass": obcluster.OperatorPass} {
		if got, err := ParseDagOperator(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"RUN", "run", "FOO", " RETRY"} {
		_, err := ParseDagOperator(in)
		if _, api := apiOf(t, err); api.ErrCode != "Task.Dag.Operator.NotSupport" || api.Message != "Operator "+in+" is not supported" {
			t.Errorf("%q: %+v", in, api)
		}
	}
	if op, err := ParseNodeOperator("pass"); err != nil || op != obcluster.OperatorPass {
		t.Fatal(err)
	}
	if _, err := ParseNodeOperator("RETRY"); !HasCode(err, CodeTaskNodeOperatorNotSupport) {
		t.Fatal(err)
	}
	for _, v := range []string{"true", "True", "1", "TRUE"} {
		if b, err := ParseShowDetails(v, true); err != nil || !b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	for _, v := range []string{"false", "False", "0"} {
		if b, err := ParseShowDetails(v, true); err != nil || b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	if b, err := ParseShowDetails("", false); err != nil || !b {
		t.Fatal("absent must default to true")
	}
	if _, err := ParseShowDetails("yes", true); !HasCode(err, CodeCommonIllegalArgument) {
		t.Fatal(err)
	}
	for s := obcluster.StatePending; s <= obcluster.StateSucceed; s++ {
		if p, ok := obcluster.ParseState(s.String()); !ok || p != s {
			t.Errorf("state %d", s)
		}
	}
	if obcluster.State(9).String() != "" || obcluster.Operator(0).String() != "" {
		t.Fatal("unknown enum values must render empty")
	}
}

func TestDTOJSON(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, loc)
	dag := DagDetailDTO{
		GenericID: "20167772161028863", DagID: 3, Name: "Initialize cluster", Stage: 1, MaxStage: 11,
		MaintenanceType: obcluster.MaintenanceGlobal,
		TaskStatusDTO:   TaskStatusDTO{State: obcluster.StateFailed, Operator: obcluster.OperatorRun, StartTime: ts, EndTime: ts},
		AdditionalData:  map[string]any{},
		Nodes: []*NodeDetailDTO{{
			GenericID: "2016777216102886301", NodeID: 301, Name: "Integrate config",
			TaskStatusDTO: TaskStatusDTO{State: obcluster.StateFailed, Operator: obcluster.OperatorRun, StartTime: ts, EndTime: ts},
			SubTasks: []*TaskDetailDTO{{
				GenericID: "2016777216102886301000", TaskID: 301000, Name: "Integrate config",
				TaskStatusDTO: TaskStatusDTO{State: obcluster.StateFailed, Operator: obcluster.OperatorRun, StartTime: ts, EndTime: ts},
				ExecuteTimes:  1, ExecuteAgent: obcluster.Agent{IP: "10.0.0.1", Port: 2886},
				TaskLogs: []string{ExecuteErrorLog("Common.Unexpected", "Unexpected error: x")},
			}},
		}},
	}
	b, err := json.Marshal(dag)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"20167772161028863","dag_id":3,"name":"Initialize cluster","stage":1,"max_stage":11,"maintenance_type":2,"maintenance_key":"",` +
		`"state":"FAILED","operator":"RUN","start_time":"2026-01-02T03:04:05+08:00","end_time":"2026-01-02T03:04:05+08:00","additional_data":{},` +
		`"nodes":[{"id":"2016777216102886301","node_id":301,"name":"Integrate config","state":"FAILED","operator":"RUN",` +
		`"start_time":"2026-01-02T03:04:05+08:00","end_time":"2026-01-02T03:04:05+08:00","additional_data":null,` +
		`"sub_tasks":[{"id":"2016777216102886301000","task_id":301000,"name":"Integrate config","state":"FAILED","operator":"RUN",` +
		`"start_time":"2026-01-02T03:04:05+08:00","end_time":"2026-01-02T03:04:05+08:00","additional_data":null,"execute_times":1,` +
		`"execute_agent":{"ip":"10.0.0.1","port":2886},"task_logs":["ERROR: [Common.Unexpected]: Unexpected error: x"]}]}]}`
	if string(b) != want {
		t.Fatalf("DTO JSON:\n got %s\nwant %s", b, want)
	}
	var back DagDetailDTO
	if err := json.Unmarshal(b, &back); err != nil || !back.IsFailed() || !back.Nodes[0].SubTasks[0].IsRun() || back.Nodes[0].SubTasks[0].TaskLogs[0] == "" {
		t.Fatalf("decode: %+v %v", back, err)
	}

	info := AgentStatus{Pid: 1, State: ServiceStateRunning, IP: "10.0.0.1", Port: 2886, Identity: obcluster.IdentitySingle, SupportedAuth: []string{AuthV2}}
	b, _ = json.Marshal(info)
	if string(b) != `{"pid":1,"state":2,"startAt":0,"homePath":"","obVersion":"","architecture":"","ip":"10.0.0.1","port":2886,"zone":"","identity":"SINGLE","version":"","isObproxyAgent":false,"security":false,"supportedAuth":["v2"]}` {
		t.Fatalf("info: %s", b)
	}
	st := ServerStatus{Agent: AgentInfoWithIdentity{"10.0.0.1", 2886, obcluster.IdentityMaster}, State: 2, OBState: OBStateAvailable}
	b, _ = json.Marshal(st)
	if string(b) != `{"agent":{"ip":"10.0.0.1","port":2886,"identity":"MASTER"},"state":2,"version":"","pid":0,"startAt":0,"port":0,"obState":3,"underMaintenance":false}` {
		t.Fatalf("status: %s", b)
	}
	b, _ = json.Marshal(AgentSecret{IP: "a", Port: 1, PublicKey: "k"})
	if string(b) != `{"ip":"a","port":1,"public_key":"k"}` {
		t.Fatalf("secret: %s", b)
	}
	b, _ = json.Marshal(SubTaskLogDTO{ID: 1, SubTaskID: 2, ExecuteTimes: 1, LogContent: "x", CreateTime: ts, UpdateTime: ts})
	if string(b) != `{"id":1,"sub_task_id":2,"execute_times":1,"log_content":"x","is_sync":false,"create_time":"2026-01-02T03:04:05+08:00","update_time":"2026-01-02T03:04:05+08:00"}` {
		t.Fatalf("log: %s", b)
	}
}

// FuzzBindParams feeds arbitrary bodies to every request type; binding and the follow-up checks
// must return an obshell error or nil, never panic.
func FuzzBindParams(f *testing.F) {
	for _, s := range []string{
		`{"AgentInfo":{"ip":"127.0.3.1","port":2886},"zoneName":"zone1"}`,
		`{"observerConfig":{"rpcPort":"2882"},"restart":true,"scope":{"type":"server","target":["127.0.3.1"]}}`,
		`{"clusterName":"c","clusterId":1,"rootPwd":"p","rsList":"1.1.1.1:2882:2881"}`,
		`{"import_script":true}`, `{"operator":"RETRY"}`, `{"ip":"::1","port":2886}`, ``, `null`, `{"clusterId":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			if err != nil {
				if _, ok := CodeOf(err); !ok {
					t.Fatalf("non-obshell error %T: %v", err, err)
				}
			}
		}
		var j JoinApiParam
		check(BindJSON(body, &j))
		var c ObClusterConfigParams
		if err := BindJSON(body, &c); err == nil {
			check(c.Check())
			if c.RsList != nil {
				_, err := ParseRsList(*c.RsList)
				check(err)
			}
		}
		var o ObServerConfigParams
		if err := BindJSON(body, &o); err == nil {
			check(o.Check())
			check(ValidateScope(context.Background(), &o.Scope, nil))
			check(NormalizeLegacyPorts(o.ObServerConfig))
		}
		var i ObInitParam
		check(BindJSON(body, &i))
		var d DagOperator
		if err := BindJSON(body, &d); err == nil {
			_, err := ParseDagOperator(d.Operator)
			check(err)
		}
		var r AgentRemoveParam
		check(BindJSON(body, &r))
	})
}

func TestMergeAdditionalData(t *testing.T) {
	if MergeAdditionalData(nil) != nil {
		t.Fatal("no items → nil")
	}
	one := map[string]any{"a": 1.0}
	if got := MergeAdditionalData([]map[string]any{one}); !reflect.DeepEqual(got, one) {
		t.Fatal("one item as is")
	}
	if got := MergeAdditionalData([]map[string]any{nil}); got != nil {
		t.Fatal("one nil item stays nil")
	}
	got := MergeAdditionalData([]map[string]any{nil, nil})
	if got == nil || len(got) != 0 {
		t.Fatalf("several empty items → {}: %#v", got)
	}
	got = MergeAdditionalData([]map[string]any{
		{"l": []any{1.0}, "m": map[string]any{"x": 1.0}, "s": "a", "t": 1.0},
		{"l": []any{2.0}, "m": map[string]any{"y": 2.0}, "s": "b", "t": "mismatch"},
	})
	want := map[string]any{"l": []any{1.0, 2.0}, "m": map[string]any{"x": 1.0, "y": 2.0}, "s": "b", "t": "mismatch"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%#v", got)
	}
	b, _ := json.Marshal(DagDetailDTO{AdditionalData: MergeAdditionalData([]map[string]any{nil, nil})})
	if !strings.Contains(string(b), `"additional_data":{}`) {
		t.Fatal(string(b))
	}
}
