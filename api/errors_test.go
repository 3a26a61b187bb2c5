package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/taskqueue"
	"github.com/obflow/obflow/workflows"
)

const (
	masterIP   = "127.0.3.20"
	followerIP = "127.0.3.21"
	singleIP   = "127.0.3.22"
	oddIP      = "127.0.3.23" // a SINGLE agent of another version
	tablePwd   = "table-pw"
)

// startRegistry starts a registry workflow in a prepared state, so the
// validators answer as they would in a cluster at that point.
func startRegistry(t *testing.T, id string, st workflows.RegistryState) {
	t.Helper()
	ctx := context.Background()
	run, err := temporalClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: taskqueue.Coordinator,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.RegistryWorkflowName, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = temporalClient.TerminateWorkflow(context.Background(), id, run.GetRunID(), "test done") })
}

// tableServer is an agent API without a listener, on a prepared registry.
func tableServer(t *testing.T, registryID, ip, version string) *Server {
	t.Helper()
	key, err := hybridauth.LoadOrCreateKey(filepath.Join(t.TempDir(), "agent.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{IP: ip, Port: 2886, HomePath: t.TempDir(), Version: version, Client: temporalClient,
		DataConverter: dataConverter, Key: key, RegistryID: registryID, PlanOptions: testPlanOptions, Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	// The registry was just started: its first query waits for the
	// coordinator's first workflow task, which a loaded machine may delay
	// past the client's query timeout. Agents retry on their refresh tick;
	// so does this.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.reg.refresh(context.Background())
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func record(ip string, identity obcluster.Identity, zone string) obcluster.AgentRecord {
	return obcluster.AgentRecord{Agent: obcluster.Agent{IP: ip, Port: 2886}, Zone: zone, Identity: identity, Version: DefaultVersion, OBVersion: DefaultOBVersion, HomePath: "/home/" + ip}
}

type errCase struct {
	name    string
	srv     *Server
	method  string
	uri     string
	body    any
	auth    authReq
	status  int
	errCode string
	code    int
	message string // exact, or a prefix when it ends with "…"
}

func (c errCase) run(t *testing.T) {
	t.Helper()
	req := newRequest(t, c.srv.cfg.Key.Public(), c.method, c.uri, c.body, c.auth)
	status, env := do(t, c.srv.Handler(), req)
	if status != c.status || env.Error == nil || env.Error.ErrCode != c.errCode || env.Error.Code != c.code {
		t.Fatalf("%s: got %d %+v, want %d %s code %d", c.name, status, env.Error, c.status, c.errCode, c.code)
	}
	if p, ok := strings.CutSuffix(c.message, "…"); ok {
		if !strings.HasPrefix(env.Error.Message, p) {
			t.Fatalf("%s: message %q, want prefix %q", c.name, env.Error.Message, p)
		}
	} else if env.Error.Message != c.message {
		t.Fatalf("%s: message %q, want %q", c.name, env.Error.Message, c.message)
	}
}

// TestErrorTable checks the errors CONTRACT.md §3–§6 gives for the routes
// obflow serves, with status, errCode, numeric code and message.
func TestErrorTable(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	reg := "registry-errors"
	startRegistry(t, reg, workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(masterIP, "MASTER", "zone1"), record(followerIP, "FOLLOWER", "zone1")},
		RootPassword: tablePwd, RootPwdSet: true,
	})
	master := tableServer(t, reg, masterIP, "")
	follower := tableServer(t, reg, followerIP, "")
	single := tableServer(t, reg, singleIP, "")
	odd := tableServer(t, reg, oddIP, "4.4.0.0-other")
	ok := authReq{pwd: tablePwd}
	past := hybridauth.ExpiryTs(time.Now(), -10*time.Second)
	future := hybridauth.ExpiryTs(time.Now(), 3*time.Hour)
	name, id0, id := "c", 0, 1
	empty := ""
	unknownDag, _ := obshell.EncodeLocalID(obcluster.Agent{IP: masterIP, Port: 2886}, 999)

	cases := []errCase{
		{"unknown route", master, "GET", "/api/v1/nothing", nil, ok, 404, "Common.NotFound", 0, "Element not found: 404 not found"},
		{"wrong method", master, "PUT", "/api/v1/info", nil, ok, 404, "Common.NotFound", 0, "Element not found: 404 not found"},
		{"missing header", master, "GET", "/api/v1/task/dag/" + unknownDag, nil, authReq{none: true}, 400, "Request.Header.NotFound", 0, "X-OCS-Agent-Header or X-OCS-Header not found in http request header"},
		{"garbled header", master, "GET", "/api/v1/task/dag/" + unknownDag, nil, authReq{raw: "bm90IGEgaGVhZGVy"}, 401, "Security.Authentication.Header.DecryptFailed", 1, "Decrypt http header failed: …"},
		{"garbled header on an open route", master, "GET", "/api/v1/info", nil, authReq{raw: "%%%"}, 401, "Security.Authentication.Header.DecryptFailed", 1, "Decrypt http header failed: …"},
		{"expired header", master, "GET", "/api/v1/task/dag/" + unknownDag, nil, authReq{pwd: tablePwd, ts: past}, 401, "Security.Authentication.Expired", 10008, "Unauthorized: Authentication expired"},
		{"far-future header", master, "GET", "/api/v1/task/dag/" + unknownDag, nil, authReq{pwd: tablePwd, ts: future}, 401, "Security.Authentication.Timestamp.Invalid", 10008, "Unauthorized: Invalid timestamp: " + future + "…"},
		{"bad timestamp", master, "GET", "/api/v1/task/dag/" + unknownDag, nil, authReq{pwd: tablePwd, ts: "soon"}, 401, "Security.Authentication.Timestamp.Invalid", 10008, "Unauthorized: Invalid timestamp: soon, err: …"},
		{"wrong password", master, "GET", "/api/v1/task/dag/" + unknownDag, nil, authReq{pwd: "nope"}, 401, "Security.Authentication.IncorrectOceanbasePassword", 10008, "Unauthorized: OceanBase password is incorrect"},
		{"empty password after rootPwd", follower, "GET", "/api/v1/task/dag/" + unknownDag, nil, authReq{}, 401, "Security.Authentication.IncorrectOceanbasePassword", 10008, "Unauthorized: OceanBase password is incorrect"},
		{"uri mismatch", master, "GET", "/api/v1/task/dag/" + unknownDag + "?show_details=true", nil, authReq{pwd: tablePwd, uri: "/api/v1/task/dag/" + unknownDag}, 401, "Security.Authentication.Header.UriMismatch", 10008, "URI mismatch"},
		{"bad generic id", master, "GET", "/api/v1/task/dag/abc", nil, ok, 400, "Task.GenericID.Invalid", 0, "Invalid ID: abc: invalid generic id"},
		{"short generic id", master, "GET", "/api/v1/task/dag/2123", nil, ok, 400, "Task.GenericID.Invalid", 0, "Invalid ID: 2123"},
		{"generic id with bad row id", master, "GET", "/api/v1/task/dag/2213070339202886x", nil, ok, 400, "Task.GenericID.Invalid", 0, "Invalid ID: 2213070339202886x: strconv.ParseInt: parsing \"x\": invalid syntax"},
		{"unknown dag", master, "GET", "/api/v1/task/dag/" + unknownDag, nil, ok, 404, "Task.NotFound", 0, "Task not found: record not found"},
		{"cluster id", master, "GET", "/api/v1/task/dag/17", nil, ok, 404, "Task.NotFound", 0, "Task not found: record not found"},
		{"bad show_details", master, "GET", "/api/v1/task/dag/" + unknownDag + "?show_details=maybe", nil, ok, 400, "Common.IllegalArgument", 0, "The input parameter 'show_details' is illegal: 'maybe' is not a boolean"},
		{"unknown node", master, "GET", "/api/v1/task/node/" + unknownDag, nil, ok, 404, "Task.NotFound", 0, "Task not found: record not found"},
		{"malformed json", master, "POST", "/api/v1/ob/init", `{"import_script":`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: unexpected EOF"},
		{"wrong json type", master, "POST", "/api/v1/obcluster/config", `{"clusterId":"1","clusterName":"c"}`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: json: cannot unmarshal string into Go struct field ObClusterConfigParams.clusterId of type int"},
		{"wrong json type (config value)", master, "POST", "/api/v1/observer/config", `{"observerConfig":{"memory_limit":6}}`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: json: cannot unmarshal number into Go struct field ObServerConfigParams.observerConfig of type string"},
		{"oversized body", master, "POST", "/api/v1/ob/init", nil, authReq{pwd: tablePwd, rawBody: []byte(strings.Repeat("A", DefaultMaxBodyBytes+16))}, 400, "Request.Body.ReadFailed", 0, "Failed to read request body: request body larger than 1048576 bytes"},
		{"body not a multiple of the block", master, "POST", "/api/v1/ob/init", nil, authReq{pwd: tablePwd, keys: make([]byte, 32), rawBody: []byte("QUJD")}, 500, "Request.Body.Decrypt.AES.ContentLength.Invalid", 0, "Unauthorized: Decrypted string length is not a multiple of the block size"},
		{"cluster id invalid", master, "POST", "/api/v1/obcluster/config", obshell.ObClusterConfigParams{ClusterID: &id0, ClusterName: &name}, ok, 400, "OB.Cluster.Id.Invalid", 0, "Cluster ID is invalid"},
		{"cluster name empty", master, "POST", "/api/v1/obcluster/config", obshell.ObClusterConfigParams{ClusterID: &id, ClusterName: &empty}, ok, 400, "OB.Cluster.Name.Empty", 0, "Cluster name is empty"},
		{"cluster config on SINGLE", single, "POST", "/api/v1/obcluster/config", obshell.ObClusterConfigParams{ClusterID: &id, ClusterName: &name}, ok, 400, "Agent.Identify.NotSupportOperation", 0, "'127.0.3.22:2886' is 'SINGLE', instead of 'MASTER or FOLLOWER', does not support this operation"},
		{"bad rsList", master, "POST", "/api/v1/obcluster/config", map[string]any{"clusterId": 1, "clusterName": "c", "rsList": "nonsense"}, ok, 400, "OB.Parameter.RsList.Invalid", 0, "rs_list 'nonsense' is invalid: …"},
		{"observer config missing", master, "POST", "/api/v1/observer/config", `{"scope":{"type":"GLOBAL"}}`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: Key: 'ObServerConfigParams.ObServerConfig' Error:Field validation for 'ObServerConfig' failed on the 'required' tag"},
		{"observer config empty", master, "POST", "/api/v1/observer/config", `{"observerConfig":{},"scope":{"type":"GLOBAL"}}`, ok, 400, "Common.IllegalArgument", 0, "The input parameter 'observerConfig' is illegal: config is empty"},
		{"denied key", master, "POST", "/api/v1/observer/config", `{"observerConfig":{"zone":"z"},"scope":{"type":"GLOBAL"}}`, ok, 400, "Common.IllegalArgument", 0, "The input parameter 'observerConfig' is illegal: config zone is not allowed to set"},
		{"zone target empty", master, "POST", "/api/v1/observer/config", `{"observerConfig":{"a":"b"},"scope":{"type":"zone"}}`, ok, 400, "Common.IllegalArgument", 0, "The input parameter 'target' is illegal: target is empty"},
		{"unknown zone", master, "POST", "/api/v1/observer/config", `{"observerConfig":{"a":"b"},"scope":{"type":"ZONE","target":["zX"]}}`, ok, 400, "OB.Zone.NotExist", 0, "Zone 'zX' does not exist"},
		{"unknown server", master, "POST", "/api/v1/observer/config", `{"observerConfig":{"a":"b"},"scope":{"type":"SERVER","target":["127.0.3.99:2886"]}}`, ok, 400, "Agent.NotExist", 0, "Server '127.0.3.99:2886' does not exist"},
		{"bad scope", master, "POST", "/api/v1/observer/config", `{"observerConfig":{"a":"b"},"scope":{"type":"TENANT"}}`, ok, 400, "OB.Cluster.Scope.Invalid", 0, "Scope 'TENANT' is invalid"},
		{"both port names", master, "POST", "/api/v1/observer/config", `{"observerConfig":{"rpc_port":"1","rpcPort":"2"},"scope":{"type":"GLOBAL"}}`, ok, 400, "Common.IllegalArgument", 0, "The input parameter 'observerConfig' is illegal: You cannot set both rpc_port and rpcPort, use rpc_port instead."},
		{"join missing zone", single, "POST", "/api/v1/agent/join", `{"agentInfo":{"ip":"127.0.3.20","port":2886}}`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: Key: 'JoinApiParam.ZoneName' Error:Field validation for 'ZoneName' failed on the 'required' tag"},
		{"join on MASTER", master, "POST", "/api/v1/agent/join", `{"AgentInfo":{"ip":"127.0.3.20","port":2886},"zoneName":"z"}`, ok, 400, "Agent.Identify.NotSupportOperation", 0, "'127.0.3.20:2886' is 'MASTER', instead of 'SINGLE', does not support this operation"},
		{"join a FOLLOWER", single, "POST", "/api/v1/agent/join", `{"agentInfo":{"ip":"127.0.3.21","port":2886},"zoneName":"z"}`, ok, 400, "Agent.Identify.NotSupportOperation", 0, "'127.0.3.21:2886' is 'FOLLOWER', instead of 'MASTER', does not support this operation"},
		{"join another version", odd, "POST", "/api/v1/agent/join", `{"agentInfo":{"ip":"127.0.3.20","port":2886},"zoneName":"z"}`, ok, 400, "Agent.Version.Inconsistent", 0, "obshell version is not consistent between 127.0.3.20:2886(" + DefaultVersion + ") and 127.0.3.23:2886(4.4.0.0-other)"},
		{"init on SINGLE", single, "POST", "/api/v1/ob/init", nil, ok, 400, "Agent.Identify.NotSupportOperation", 0, "'127.0.3.22:2886' is 'SINGLE', instead of 'MASTER or FOLLOWER', does not support this operation"},
		{"maintain on a fresh agent", single, "GET", "/api/v1/task/dag/maintain/agent", nil, ok, 404, "Task.NotFound", 0, "Task not found: Agent is not under maintenance"},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}

	t.Run("replayed header", func(t *testing.T) {
		req := newRequest(t, master.cfg.Key.Public(), "GET", "/api/v1/task/dag/"+unknownDag, nil, ok)
		again := req.Clone(context.Background())
		if status, _ := do(t, master.Handler(), req); status != http.StatusNotFound {
			t.Fatalf("first use: %d", status)
		}
		status, env := do(t, master.Handler(), again)
		if status != 401 || env.Error.ErrCode != "Security.Authentication.Unauthorized" || env.Error.Code != 10008 ||
			env.Error.Message != "Unauthorized: Authentication failed: header replayed" {
			t.Fatalf("replay: %d %+v", status, env.Error)
		}
	})

	// A maintenance DAG on the master: its stage waits for the master's
	// host worker, which this test does not run, so it holds the lock.
	req := newRequest(t, master.cfg.Key.Public(), "POST", "/api/v1/observer/config",
		`{"observerConfig":{"memory_limit":"6G"},"scope":{"type":"GLOBAL"}}`, ok)
	status, env := do(t, master.Handler(), req)
	if status != 200 {
		t.Fatalf("observer config: %d %+v", status, env.Error)
	}
	var dag obshell.DagDetailDTO
	if err := jsonUnmarshal(env.Data, &dag); err != nil {
		t.Fatal(err)
	}
	if *loadDuration > 0 {
		// A running DAG: every GET reads its whole history and describes it.
		ln, err := net.Listen("tcp", net.JoinHostPort(masterIP, "2886"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: master.Handler()}
		go func() { _ = srv.Serve(ln) }()
		f := runLoad(t, ln.Addr().String(), master.cfg.Key.PublicKeyBase64(), "/api/v1/task/dag/"+dag.GenericID, tablePwd, *loadClients, *loadDuration/2)
		t.Logf("LOAD running DAG (%s), %d clients, %v: %s; test process RSS %s", dag.Name, *loadClients, *loadDuration/2, f, rssMB())
		_ = srv.Close()
	}
	held := []errCase{
		{"init under maintenance", master, "POST", "/api/v1/ob/init", nil, ok, 500, "Agent.UnderMaintenance", 0, "Create task 'Initialize cluster' failed: 127.0.3.20:2886 is under maintenance"},
		{"init through a FOLLOWER under maintenance", follower, "POST", "/api/v1/ob/init", `{"import_script":false}`, ok, 500, "Agent.UnderMaintenance", 0, "Create task 'Initialize cluster' failed: 127.0.3.20:2886 is under maintenance"},
		{"config under maintenance", master, "PUT", "/api/v1/obcluster/config", obshell.ObClusterConfigParams{ClusterID: &id, ClusterName: &name}, ok, 500, "Agent.UnderMaintenance", 0, "Create task 'Update cluster config' failed: 127.0.3.20:2886 is under maintenance"},
		{"unknown operator", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"jump"}`, ok, 400, "Task.Dag.Operator.NotSupport", 0, "Operator jump is not supported"},
		{"RUN is no operator", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"RUN"}`, ok, 400, "Task.Dag.Operator.NotSupport", 0, "Operator RUN is not supported"},
		{"missing operator", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{}`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: Key: 'DagOperator.Operator' Error:Field validation for 'Operator' failed on the 'required' tag"},
		{"retry a running DAG", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"retry"}`, ok, 400, "Task.Dag.Operator.RetryNotFailedDag", 0, "Failed to set DAG retry: DAG state is not failed"},
		{"rollback a running DAG", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"ROLLBACK"}`, ok, 400, "Task.Dag.Operator.RollbackNotFailedDag", 0, "Failed to set DAG rollback: DAG state is not failed"},
		{"pass a running DAG", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"PASS"}`, ok, 400, "Task.Dag.Operator.PassNotFailedDag", 0, "Failed to pass DAG: DAG is not failed"},
		{"node operator", master, "POST", "/api/v1/task/node/" + nodeGID(t, dag.GenericID, 1), `{"operator":"RETRY"}`, ok, 400, "Task.Node.Operator.NotSupport", 0, "Operator RETRY is not supported"},
		{"remove under maintenance", master, "POST", "/api/v1/agent/remove", `{"ip":"127.0.3.21","port":2886}`, ok, 500, "Agent.UnderMaintenance", 0, "127.0.3.20:2886 is under maintenance"},
		{"remove self through a FOLLOWER, master under maintenance", follower, "DELETE", "/api/v1/agent", `{"ip":"127.0.3.21","port":2886}`, ok, 500, "Agent.UnderMaintenance", 0, "127.0.3.20:2886 is under maintenance"},
		{"node pass on a running DAG", master, "POST", "/api/v1/task/node/" + nodeGID(t, dag.GenericID, 1), `{"operator":"PASS"}`, ok, 400, "Task.Node.Operator.PassNotFailedDag", 0, "Failed to pass node: DAG is not failed"},
	}
	for _, c := range held {
		t.Run(c.name, c.run)
	}
	// CANCEL is allowed on a running config DAG; it ends FAILED/CANCEL.
	req = newRequest(t, master.cfg.Key.Public(), "POST", "/api/v1/task/dag/"+dag.GenericID, `{"operator":"CANCEL"}`, ok)
	if status, env := do(t, master.Handler(), req); status != 200 || env.Data != nil {
		t.Fatalf("cancel: %d %+v", status, env.Error)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := newRequest(t, master.cfg.Key.Public(), "GET", "/api/v1/task/dag/"+dag.GenericID, nil, ok)
		_, env := do(t, master.Handler(), req)
		var got obshell.DagDetailDTO
		if err := jsonUnmarshal(env.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got.State == obcluster.StateFailed {
			if got.Operator != obcluster.OperatorCancel || got.Nodes[0].State != obcluster.StateFailed || got.Nodes[0].Operator != obcluster.OperatorCancel {
				t.Fatalf("cancelled DAG: %s/%s, node %s/%s", got.State, got.Operator, got.Nodes[0].State, got.Nodes[0].Operator)
			}
			logs := got.Nodes[0].SubTasks[0].TaskLogs
			if len(logs) == 0 || !strings.HasPrefix(logs[len(logs)-1], "ERROR: [") {
				t.Fatalf("cancelled sub-task logs %q", logs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DAG still %s/%s after CANCEL", got.State, got.Operator)
		}
		time.Sleep(200 * time.Millisecond)
	}
	errCase{"cancel a failed DAG", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"CANCEL"}`, ok, 400, "Task.Dag.Operator.CancelFinishedDag", 0, "Failed to cancel DAG: DAG is finished"}.run(t)
	errCase{"pass a config DAG", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"PASS"}`, ok, 400, "Task.Dag.Operator.PassNotAllowed", 0, "Failed to pass DAG: node Update observer config cannot pass"}.run(t)
	errCase{"rollback a config DAG", master, "POST", "/api/v1/task/dag/" + dag.GenericID, `{"operator":"ROLLBACK"}`, ok, 400, "Task.Dag.Operator.RollbackNotAllowed", 0, "Failed to set DAG rollback: node Update observer config cannot rollback"}.run(t)
}

func nodeGID(t *testing.T, dagGID string, stage int) string {
	t.Helper()
	g, err := obshell.ParseGenericID(dagGID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := obshell.NodeID(g.ID, stage)
	if err != nil {
		t.Fatal(err)
	}
	return g.WithID(n).String()
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
