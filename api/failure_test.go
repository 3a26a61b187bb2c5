package api

import (
	"context"
	"errors"
	"github.com/obflow/obflow/internal/obcluster"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/internal/obsim"
)

// prepareCluster joins hosts (the first is the master) and stores the
// observer and cluster config, as the Go SDK does.
func prepareCluster(t *testing.T, hosts []*simHost, cluster string) *obshellclient.Client {
	t.Helper()
	ctx := context.Background()
	master := newClient(t, hosts[0].addr(), hybridauth.CasingGo, rootPwd)
	mi := obcluster.Agent{IP: hosts[0].ip, Port: 2886}
	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "zone1"})
	waitOK(t, master, dag, err)
	for i, h := range hosts[1:] {
		f := newClient(t, h.addr(), hybridauth.CasingGo, rootPwd)
		dag, err := f.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: []string{"zone2", "zone3"}[i]})
		waitOK(t, master, dag, err)
	}
	dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "GLOBAL"}})
	waitOK(t, master, dag, err)
	id, pwd := 21, rootPwd
	dag, err = master.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterName: &cluster, ClusterID: &id, RootPwd: &pwd})
	waitOK(t, master, dag, err)
	return master
}

// initFails starts an init and waits for it to fail.
func initFails(t *testing.T, master *obshellclient.Client) *obshell.DagDetailDTO {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dag, err := master.Init(ctx, obshell.ObInitParam{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := master.WaitDagSucceed(ctx, dag.GenericID, pollInterval)
	var failed *obshellclient.DagFailedError
	if !errors.As(err, &failed) {
		t.Fatalf("init: %v, want it to fail", err)
	}
	return got
}

func wantAPIError(t *testing.T, err error, status int, errCode, message string) {
	t.Helper()
	var apiErr *obshellclient.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != status || apiErr.ErrCode != errCode || apiErr.Message != message {
		t.Fatalf("got %v, want %d %s %q", err, status, errCode, message)
	}
}

// TestInitFailurePath drives a failing init through HTTP: a simulator
// fault fails "Cluster boostrap"; the DAG, its node and the failed
// sub-task show it; a second init is refused while the failed one holds
// the lock; PASS is refused, ROLLBACK undoes it; CANCEL stops a slow
// bootstrap; RETRY after the fault is gone finishes the cluster (CONTRACT.md §2.4).
func TestInitFailurePath(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	hosts := startHosts(t, "registry-fail", "127.0.3.8", "127.0.3.9", "127.0.3.10")
	master := prepareCluster(t, hosts, "obflow-fail")
	ctx := context.Background()
	fault := obsim.Faults{BootstrapError: &obsim.SQLErrorSpec{Code: 4179, Message: "simulated bootstrap failure"}}
	if err := obsim.WriteFaults(hosts[0].home, fault); err != nil {
		t.Fatal(err)
	}

	failed := initFails(t, master)
	recordHistory(t, "init-bootstrap-failed", failed.GenericID)
	if failed.Stage != 4 || failed.Nodes[3].State != obcluster.StateFailed || failed.Nodes[3].Name != activities.ClusterBootstrapName {
		t.Fatalf("failed init at stage %d, node 4 %s", failed.Stage, failed.Nodes[3].State)
	}
	sub := failed.Nodes[3].SubTasks[0]
	if last := sub.TaskLogs[len(sub.TaskLogs)-1]; sub.State != obcluster.StateFailed || !strings.HasPrefix(last, "ERROR: [") || !strings.Contains(last, "simulated bootstrap failure") {
		t.Fatalf("failed sub-task %s, logs %q", sub.State, sub.TaskLogs)
	}
	if logs := obshellclient.GetFailedDagLastLog(failed); len(logs) != 1 || !strings.HasPrefix(logs[0], hosts[0].addr()+" ERROR: [") {
		t.Fatalf("GetFailedDagLastLog: %q", logs)
	}
	_, err := master.Init(ctx, obshell.ObInitParam{})
	wantAPIError(t, err, 500, "Agent.UnderMaintenance", "Create task 'Initialize cluster' failed: 127.0.3.8:2886 is under maintenance")
	if st, err := master.Status(ctx); err != nil || !st.UnderMaintenance {
		t.Fatalf("status of a master with a failed init: %+v %v", st, err)
	}
	err = master.OperateDag(ctx, failed.GenericID, obcluster.OperatorPass)
	wantAPIError(t, err, 400, "Task.Dag.Operator.PassNotAllowed", "Failed to pass DAG: node Cluster boostrap cannot pass")
	opCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := master.OperateDagSync(opCtx, failed.GenericID, obcluster.OperatorRollback, pollInterval); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	recordHistory(t, "init-rolled-back", failed.GenericID)

	// CANCEL a slow bootstrap.
	if err := obsim.WriteFaults(hosts[0].home, obsim.Faults{BootstrapDelayMS: 120_000}); err != nil {
		t.Fatal(err)
	}
	dag, err := master.Init(ctx, obshell.ObInitParam{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		got, err := master.GetDag(ctx, dag.GenericID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Stage == 4 && got.Nodes[3].State == obcluster.StateRunning {
			break
		}
		if got.IsFinished() {
			t.Fatalf("init ended %s before bootstrap", got.State)
		}
		time.Sleep(pollInterval)
	}
	canceled, err := master.OperateDagSync(opCtx, dag.GenericID, obcluster.OperatorCancel, pollInterval)
	if err != nil {
		t.Fatalf("CANCEL: %v", err)
	}
	if logs := obshellclient.GetFailedDagLastLog(canceled); len(logs) != 1 || logs[0] != "Sorry, Task 'Initialize cluster' was cancelled" {
		t.Fatalf("cancelled DAG summary %q", logs)
	}
	recordHistory(t, "init-canceled", dag.GenericID)
	if _, err := master.OperateDagSync(opCtx, dag.GenericID, obcluster.OperatorRollback, pollInterval); err != nil {
		t.Fatalf("ROLLBACK after CANCEL: %v", err)
	}

	// RETRY once the fault is gone.
	if err := obsim.WriteFaults(hosts[0].home, fault); err != nil {
		t.Fatal(err)
	}
	failed = initFails(t, master)
	if err := obsim.WriteFaults(hosts[0].home, obsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	done, err := master.OperateDagSync(opCtx, failed.GenericID, obcluster.OperatorRetry, pollInterval)
	if err != nil {
		t.Fatalf("RETRY: %v", err)
	}
	recordHistory(t, "init-retried", failed.GenericID)
	if done.Nodes[3].SubTasks[0].ExecuteTimes < 2 {
		t.Errorf("bootstrap ran %d times after RETRY", done.Nodes[3].SubTasks[0].ExecuteTimes)
	}
	checkInitialized(t, hosts, done, master)
}

// TestInitPass: a failed "Start observer" cannot be passed at DAG level
// (later nodes such as "Cluster boostrap" cannot pass, CONTRACT.md §7.5.1), but its
// node can (POST /task/node/:id PASS): the node becomes SUCCEED/PASS and
// the DAG runs on. The test then cancels and rolls back to free the lock.
func TestInitPass(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	hosts := startHosts(t, "registry-pass", "127.0.3.11")
	master := prepareCluster(t, hosts, "obflow-pass")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := obsim.WriteFaults(hosts[0].home, obsim.Faults{ExitDuringStart: 3}); err != nil {
		t.Fatal(err)
	}
	failed := initFails(t, master)
	if failed.Stage != 3 || failed.Nodes[2].State != obcluster.StateFailed {
		t.Fatalf("failed at stage %d (%s)", failed.Stage, failed.Nodes[2].State)
	}
	err := master.OperateDag(ctx, failed.GenericID, obcluster.OperatorPass)
	wantAPIError(t, err, 400, "Task.Dag.Operator.PassNotAllowed", "Failed to pass DAG: node Cluster boostrap cannot pass")
	err = master.OperateNode(ctx, failed.Nodes[3].GenericID, obcluster.OperatorPass)
	wantAPIError(t, err, 400, "Task.Node.Operator.PassNotFailedNode", "Failed to pass node: node Cluster boostrap is not failed")
	if err := obsim.WriteFaults(hosts[0].home, obsim.Faults{BootstrapDelayMS: 120_000}); err != nil {
		t.Fatal(err)
	}
	if err := master.OperateNode(ctx, failed.Nodes[2].GenericID, obcluster.OperatorPass); err != nil {
		t.Fatalf("node PASS: %v", err)
	}
	got, err := master.GetDag(ctx, failed.GenericID)
	if err != nil || got.IsFinished() || got.Nodes[2].State != obcluster.StateSucceed || got.Nodes[2].Operator != obcluster.OperatorPass {
		t.Fatalf("after node PASS: %+v %v", got, err)
	}
	// The DAG went on; stop it and undo everything.
	for got.Stage < 4 {
		time.Sleep(pollInterval)
		if got, err = master.GetDag(ctx, failed.GenericID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := master.OperateDagSync(ctx, failed.GenericID, obcluster.OperatorCancel, pollInterval); err != nil {
		t.Fatalf("CANCEL: %v", err)
	}
	recordHistory(t, "init-node-passed", failed.GenericID)
	if _, err := master.OperateDagSync(ctx, failed.GenericID, obcluster.OperatorRollback, pollInterval); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := master.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.UnderMaintenance {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lock still held after ROLLBACK")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
