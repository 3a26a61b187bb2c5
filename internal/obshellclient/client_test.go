package obshellclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

func ptr[T any](v T) *T { return &v }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func asAPIError(t *testing.T, err error) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want *APIError, got %T %v", err, err)
	}
	return ae
}

// TestCreateClusterFlow runs the SDKs' create-cluster sequence against one agent, with each
// casing: join self while SINGLE (empty password), observer and cluster config, then the
// password switch while polling the cluster-config DAG, and init.
func TestCreateClusterFlow(t *testing.T) {
	for _, casing := range []hybridauth.Casing{hybridauth.CasingGo, hybridauth.CasingPython} {
		t.Run(casing.String(), func(t *testing.T) {
			ctx := ctxT(t)
			agent := newFakeAgent(t, obcluster.IdentitySingle, "")
			c, err := New(agent.addr(), WithPassword("rootpw"), WithCasing(casing))
			if err != nil {
				t.Fatal(err)
			}
			dag, err := c.Join(ctx, obshell.JoinApiParam{AgentInfo: agent.self, ZoneName: "zone1"})
			if err != nil {
				t.Fatal(err)
			}
			if dag.Name != "Join self" {
				t.Fatalf("join: %+v", dag)
			}
			if _, err := c.WaitDagSucceed(ctx, dag.GenericID, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			dag, err = c.ConfigObserver(ctx, obshell.ObServerConfigParams{
				ObServerConfig: map[string]string{"memory_limit": "8G"}, Restart: true,
				Scope: obshell.Scope{Type: "SERVER", Target: []string{agent.addr()}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitDagSucceed(ctx, dag.GenericID, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			dag, err = c.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterID: ptr(1), ClusterName: ptr("obc"), RootPwd: ptr("rootpw")})
			if err != nil {
				t.Fatal(err)
			}
			// The agent now wants "rootpw"; the client still sends "" (it saw SINGLE) and must recover.
			if _, err := c.WaitDagSucceed(ctx, dag.GenericID, 10*time.Millisecond); err != nil {
				t.Fatalf("poll after password change: %v", err)
			}
			dag, err = c.Init(ctx, obshell.ObInitParam{ImportScript: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitDagSucceed(ctx, dag.GenericID, 10*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(ctx)
			if err != nil || info.Identity != obcluster.IdentityClusterAgent {
				t.Fatalf("info: %+v %v", info, err)
			}
			st, err := c.Status(ctx)
			if err != nil || st.OBState != obshell.OBStateAvailable {
				t.Fatalf("status: %+v %v", st, err)
			}

			agent.mu.Lock()
			defer agent.mu.Unlock()
			wantHeader, wantJoin := `{"Auth":`, `{"AgentInfo":{"ip":`
			if casing == hybridauth.CasingPython {
				wantHeader, wantJoin = `{"auth": `, `{"agentInfo":{"ip":`
			}
			for _, h := range agent.headers {
				if !strings.HasPrefix(h, wantHeader) {
					t.Fatalf("header casing: %s", h)
				}
			}
			if !strings.HasPrefix(agent.headers[0], wantHeader+`""`) {
				t.Fatalf("a SINGLE agent must get an empty password: %s", agent.headers[0])
			}
			if !strings.HasPrefix(agent.bodies[0], wantJoin) {
				t.Fatalf("join body casing: %s", agent.bodies[0])
			}
			wantInit := `{"import_script":true}`
			if casing == hybridauth.CasingPython {
				wantInit = `{"import_script":true,"create_proxyro_user":false,"proxyro_password":""}`
			}
			if !slices.Contains(agent.bodies, wantInit) {
				t.Fatalf("init body %s not in %q", wantInit, agent.bodies)
			}
			if !slices.Contains(agent.bodies, `{"clusterId":1,"clusterName":"obc","rootPwd":"rootpw"}`) {
				t.Fatalf("cluster config body not in %q", agent.bodies)
			}
			polled := false
			for _, u := range agent.uris {
				if strings.HasPrefix(u, "/api/v1/task/dag/") {
					polled = true
					if (casing == hybridauth.CasingPython) != strings.HasSuffix(u, "?show_details=True") {
						t.Fatalf("poll uri %s for %v", u, casing)
					}
				}
			}
			if !polled {
				t.Fatal("no DAG poll seen")
			}
			if agent.password != "rootpw" {
				t.Fatalf("agent password %q", agent.password)
			}
			if agent.rejected != 1 {
				t.Fatalf("want exactly one 401 (the poll right after the password change), got %d", agent.rejected)
			}
		})
	}
}

// TestCandidateAdoption: the current password no longer works even after re-checking, so the
// client adopts the candidate (code 10008 path, sdk-go tryCandidateAuth).
func TestCandidateAdoption(t *testing.T) {
	ctx := ctxT(t)
	agent := newFakeAgent(t, obcluster.IdentityMaster, "")
	c, _ := New(agent.addr(), WithCasing(hybridauth.CasingPython))
	dag, err := c.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterID: ptr(2), ClusterName: ptr("c"), RootPwd: ptr("n3w")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Password() != "" {
		t.Fatal("candidate must not be adopted before it is needed")
	}
	got, err := c.GetDag(ctx, dag.GenericID)
	if err != nil || got.GenericID != dag.GenericID {
		t.Fatalf("get after switch: %v", err)
	}
	if c.Password() != "n3w" {
		t.Fatalf("candidate not adopted: %q", c.Password())
	}
	// A wrong password with no candidate: 401 10008 after one re-check.
	c.SetPassword("wrong")
	_, err = c.GetDag(ctx, dag.GenericID)
	ae := asAPIError(t, err)
	if ae.HTTPStatus != 401 || ae.Code != 10008 || ae.ErrCode != "Security.Authentication.IncorrectOceanbasePassword" ||
		ae.Message != "Unauthorized: OceanBase password is incorrect" {
		t.Fatalf("%+v", ae)
	}
	// A candidate that is wrong too: still an error, and the failed candidate is the credential now
	// (as in the SDK).
	c.SetCandidatePassword("also-wrong")
	if _, err = c.GetDag(ctx, dag.GenericID); asAPIError(t, err).Code != 10008 {
		t.Fatal(err)
	}
	if c.Password() != "also-wrong" {
		t.Fatalf("password %q", c.Password())
	}
}

// TestKeyRotation: the agent's key changes; the client gets code 1, re-fetches the key and
// retries once.
func TestKeyRotation(t *testing.T) {
	ctx := ctxT(t)
	agent := newFakeAgent(t, obcluster.IdentityMaster, "pw")
	agent.mu.Lock()
	d := agent.addDag("Initialize cluster", obcluster.StateSucceed, obcluster.OperatorRun, nil)
	agent.mu.Unlock()
	c, _ := New(agent.addr(), WithPassword("pw"))
	if _, err := c.GetDag(ctx, d.GenericID); err != nil {
		t.Fatal(err)
	}
	agent.rotateKey()
	if _, err := c.GetDag(ctx, d.GenericID); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	agent.mu.Lock()
	calls := agent.secretCalls
	agent.mu.Unlock()
	if calls != 2 {
		t.Fatalf("secret fetched %d times, want 2", calls)
	}
}

func TestErrorEnvelopes(t *testing.T) {
	ctx := ctxT(t)
	agent := newFakeAgent(t, obcluster.IdentityMaster, "pw")
	c, _ := New(agent.addr(), WithPassword("pw"))
	missing, _ := obshell.EncodeLocalID(agent.self, 999)
	tests := []struct {
		call    func() error
		status  int
		errCode string
		msg     string
	}{
		{func() error { _, err := c.GetDag(ctx, missing); return err }, 404, "Task.NotFound", "Task not found: record not found"},
		{func() error { _, err := c.GetDag(ctx, "9x"); return err }, 400, "Task.GenericID.Invalid", "Invalid ID: 9x: invalid generic id"},
		{func() error { return c.OperateDag(ctx, missing, obcluster.OperatorRetry) }, 404, "Task.NotFound", "Task not found: record not found"},
		{func() error {
			_, err := c.Join(ctx, obshell.JoinApiParam{AgentInfo: agent.self, ZoneName: "z"})
			return err
		},
			400, "Agent.Identify.NotSupportOperation", "'" + agent.addr() + "' is 'MASTER', instead of 'SINGLE', does not support this operation"},
		{func() error {
			_, err := c.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterName: ptr("c")})
			return err
		},
			400, "OB.Cluster.Id.Invalid", "Cluster ID is invalid"},
		{func() error {
			_, err := c.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: map[string]string{"zone": "z"}})
			return err
		},
			400, "Common.IllegalArgument", "The input parameter 'observerConfig' is illegal: config zone is not allowed to set"},
		{func() error { _, err := c.dagList(ctx, "/api/v1/nope"); return err }, 404, "Common.NotFound", "Element not found: 404 not found"},
	}
	for i, tt := range tests {
		ae := asAPIError(t, tt.call())
		if ae.HTTPStatus != tt.status || ae.ErrCode != tt.errCode || ae.Message != tt.msg || ae.TraceID != "trace" {
			t.Errorf("case %d: %+v", i, ae)
		}
	}
	// 204 → nil DAG, no error.
	if d, err := c.RemoveAgent(ctx, agent.self); err != nil || d != nil {
		t.Fatalf("remove: %v %v", d, err)
	}

	// Something that is not an obshell envelope.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer plain.Close()
	pc, _ := New(strings.TrimPrefix(plain.URL, "http://"))
	if _, err := pc.Info(ctx); err == nil || !strings.Contains(err.Error(), "not an obshell envelope") {
		t.Fatalf("plain error: %v", err)
	}
	if _, err := New("not-an-ip:1"); err == nil {
		t.Fatal("bad address")
	}
	if c2, err := New("127.0.0.1"); err != nil || c2.Agent().Port != 2886 {
		t.Fatal("default port")
	}
}

func TestWaitAndOperate(t *testing.T) {
	ctx := ctxT(t)
	agent := newFakeAgent(t, obcluster.IdentityMaster, "pw")
	failedNode := func() []*obshell.NodeDetailDTO {
		return []*obshell.NodeDetailDTO{
			{Name: "Integrate config", TaskStatusDTO: obshell.TaskStatusDTO{State: obcluster.StateSucceed, Operator: obcluster.OperatorRun}},
			{Name: "Start observer", TaskStatusDTO: obshell.TaskStatusDTO{State: obcluster.StateFailed, Operator: obcluster.OperatorRun},
				SubTasks: []*obshell.TaskDetailDTO{
					{TaskStatusDTO: obshell.TaskStatusDTO{State: obcluster.StateSucceed}, ExecuteAgent: obcluster.Agent{IP: "127.0.3.1", Port: 2886}},
					{TaskStatusDTO: obshell.TaskStatusDTO{State: obcluster.StateFailed}, ExecuteAgent: obcluster.Agent{IP: "127.0.3.2", Port: 2886},
						TaskLogs: []string{"start", obshell.ExecuteErrorLog("Common.Unexpected", "Unexpected error: config cluster is required")}},
				}},
		}
	}
	agent.mu.Lock()
	failed := agent.addDag("Initialize cluster", obcluster.StateFailed, obcluster.OperatorRun, failedNode())
	failed2 := agent.addDag("Initialize cluster", obcluster.StateFailed, obcluster.OperatorRun, failedNode())
	running := agent.addDag("Initialize cluster", obcluster.StateRunning, obcluster.OperatorRun, failedNode()[:1])
	agent.mu.Unlock()
	c, _ := New(agent.addr(), WithPassword("pw"))

	dag, err := c.WaitDagSucceed(ctx, failed.GenericID, time.Millisecond)
	var fe *DagFailedError
	if !errors.As(err, &fe) || dag == nil || err.Error() != "127.0.3.2:2886 ERROR: [Common.Unexpected]: Unexpected error: config cluster is required" {
		t.Fatalf("failed dag: %v", err)
	}
	if _, err := c.OperateDagSync(ctx, failed.GenericID, obcluster.OperatorRetry, time.Millisecond); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, err := c.OperateDagSync(ctx, failed2.GenericID, obcluster.OperatorRollback, time.Millisecond); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	err = c.OperateDag(ctx, failed2.GenericID, obcluster.OperatorRollback)
	if ae := asAPIError(t, err); ae.ErrCode != "Task.Dag.Operator.RollbackNotFailedDag" || ae.HTTPStatus != 400 {
		t.Fatalf("%+v", ae)
	}
	d, err := c.OperateDagSync(ctx, running.GenericID, obcluster.OperatorCancel, time.Millisecond)
	if err != nil || !d.IsFailed() || !d.IsCancel() {
		t.Fatalf("cancel: %v %+v", err, d)
	}
	if got := GetFailedDagLastLog(d); len(got) != 1 || got[0] != "Sorry, Task 'Initialize cluster' was cancelled" {
		t.Fatalf("cancel log: %v", got)
	}
	// RETRY that fails again → DagFailedError.
	agent.mu.Lock()
	again := agent.addDag("Initialize cluster", obcluster.StateFailed, obcluster.OperatorRun, failedNode())
	agent.retryOutcome = obcluster.StateFailed
	agent.mu.Unlock()
	if _, err := c.OperateDagSync(ctx, again.GenericID, obcluster.OperatorRetry, time.Millisecond); !errors.As(err, &fe) {
		t.Fatalf("retry failing again: %v", err)
	}
	// A poll error aborts the wait.
	missing, _ := obshell.EncodeLocalID(agent.self, 12345)
	if _, err := c.WaitDagSucceed(ctx, missing, time.Millisecond); !errors.Is(err, ErrQueryDagFailed) {
		t.Fatalf("poll error: %v", err)
	}
	// ctx ends a wait on a DAG that never finishes.
	agent.mu.Lock()
	stuck := agent.addDag("Initialize cluster", obcluster.StateRunning, obcluster.OperatorRun, nil)
	agent.mu.Unlock()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.WaitDagSucceed(short, stuck.GenericID, 5*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ctx: %v", err)
	}

	logs, err := c.GetSubTaskLogs(ctx, "1")
	if err != nil || len(logs) != 1 || logs[0].LogContent != "hello" {
		t.Fatalf("logs: %+v %v", logs, err)
	}
	list, err := c.GetAgentUnfinishedDags(ctx)
	if err != nil || len(list) == 0 {
		t.Fatalf("unfinished: %v %v", list, err)
	}
}

func TestGetFailedDagLastLog(t *testing.T) {
	if got := GetFailedDagLastLog(&obshell.DagDetailDTO{Name: "x"}); got[0] != "No failed task log found, please check the task details" {
		t.Fatal(got)
	}
	if got := GetFailedDagLastLog(nil); len(got) != 1 {
		t.Fatal(got)
	}
	d := &obshell.DagDetailDTO{Nodes: []*obshell.NodeDetailDTO{{TaskStatusDTO: obshell.TaskStatusDTO{State: obcluster.StateFailed, Operator: obcluster.OperatorRun},
		SubTasks: []*obshell.TaskDetailDTO{{TaskStatusDTO: obshell.TaskStatusDTO{State: obcluster.StateFailed}, ExecuteAgent: obcluster.Agent{IP: "::1", Port: 2886}}}}}}
	if got := GetFailedDagLastLog(d); len(got) != 1 || got[0] != "::1:2886 " {
		t.Fatalf("no logs must not panic: %q", got)
	}
	if !versionAtLeast("4.5.0.0-1", 4, 2, 4) || !versionAtLeast("4.2.4.0", 4, 2, 4) || versionAtLeast("4.2.3.9", 4, 2, 4) || versionAtLeast("x", 4) {
		t.Fatal("versionAtLeast")
	}
}
