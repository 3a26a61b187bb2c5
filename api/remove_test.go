package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/internal/obsim"
	"github.com/obflow/obflow/workflows"
)

// waitIdentity waits until every host's /api/v1/info reports want.
func waitIdentity(t *testing.T, want obcluster.Identity, hosts ...*simHost) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range hosts {
		c := newClient(t, h.addr(), hybridauth.CasingGo, "")
		for {
			info, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if info.Identity == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, want %s", h.addr(), info.Identity, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// checkRemoveDag checks a finished remove DAG's DTO: its name, node names
// and the agents its sub-tasks ran on.
func checkRemoveDag(t *testing.T, dag *obshell.DagDetailDTO, name string, nodes []string, agents [][]string) {
	t.Helper()
	if dag.Name != name || dag.State != obcluster.StateSucceed || dag.Stage != dag.MaxStage || dag.MaxStage != len(nodes) || len(dag.Nodes) != len(nodes) {
		t.Fatalf("DAG %q %s stage %d/%d with %d nodes, want %q SUCCEED with %d nodes", dag.Name, dag.State, dag.Stage, dag.MaxStage, len(dag.Nodes), name, len(nodes))
	}
	for i, n := range dag.Nodes {
		if n.Name != nodes[i] || n.State != obcluster.StateSucceed || len(n.SubTasks) != len(agents[i]) {
			t.Fatalf("node %d: %q %s with %d sub-tasks, want %q SUCCEED with %d", i+1, n.Name, n.State, len(n.SubTasks), nodes[i], len(agents[i]))
		}
		for j, st := range n.SubTasks {
			if got := st.ExecuteAgent.String(); got != agents[i][j] || st.State != obcluster.StateSucceed || len(st.TaskLogs) == 0 {
				t.Errorf("node %q sub-task %d: %s on %s with %d log lines, want SUCCEED on %s", n.Name, j, st.State, got, len(st.TaskLogs), agents[i][j])
			}
		}
	}
}

// TestRemoveAgents drives the three remove DAGs over HTTP (CONTRACT.md §3.6, §7.6):
// the master removes a follower, a follower removes itself, both are
// refused while the master is under maintenance, and the master removing
// itself removes everyone. Every removed agent is SINGLE and can join
// again.
func TestRemoveAgents(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	hosts := startHosts(t, "registry-remove", "127.0.3.30", "127.0.3.31", "127.0.3.32")
	ctx := context.Background()
	master := newClient(t, hosts[0].addr(), hybridauth.CasingGo, "")
	mi := obcluster.Agent{IP: hosts[0].ip, Port: 2886}
	join := func(h *simHost, zone string) {
		t.Helper()
		f := newClient(t, h.addr(), hybridauth.CasingPython, "")
		dag, err := f.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: zone})
		waitOK(t, master, dag, err)
	}
	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z1"})
	waitOK(t, master, dag, err)
	join(hosts[1], "z2")
	join(hosts[2], "z2")
	dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "SERVER", Target: []string{hosts[1].addr()}}})
	waitOK(t, master, dag, err)
	dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "ZONE", Target: []string{"z2"}}})
	waitOK(t, master, dag, err)

	// The master removes a follower: its record and server config go;
	// zone z2 keeps its config, another agent is in it.
	dag, err = master.RemoveAgent(ctx, obcluster.Agent{IP: hosts[1].ip, Port: 2886})
	removed := waitOK(t, master, dag, err)
	name := "Remove follower agent " + hosts[1].addr()
	checkRemoveDag(t, removed, name, []string{activities.RemoveFollowerName, name},
		[][]string{{hosts[1].addr()}, {hosts[0].addr()}})
	recordHistory(t, "remove-follower-agent", removed.GenericID)
	waitIdentity(t, obcluster.IdentitySingle, hosts[1])
	st, _ := hosts[0].api.reg.refresh(ctx)
	if _, ok := st.Agent(hosts[1].addr()); ok || st.Observer.Server[hosts[1].addr()] != nil || st.Observer.Zone["z2"] == nil {
		t.Fatalf("registry after removing %s: agents %v, server config %v, zone config %v", hosts[1].addr(), st.Agents, st.Observer.Server, st.Observer.Zone)
	}
	// A non-member: 204, nothing to do.
	if dag, err := master.RemoveAgent(ctx, obcluster.Agent{IP: hosts[1].ip, Port: 2886}); err != nil || dag != nil {
		t.Fatalf("removing a non-member: %+v %v, want 204", dag, err)
	}

	// The follower removes itself; the last agent of z2 takes the zone's
	// config with it.
	follower := newClient(t, hosts[2].addr(), hybridauth.CasingPython, "")
	dag, err = follower.RemoveAgent(ctx, obcluster.Agent{IP: hosts[2].ip, Port: 2886})
	removed = waitOK(t, master, dag, err)
	checkRemoveDag(t, removed, workflows.FollowerRemoveSelfName, []string{activities.FollowerRemoveSelfName, activities.AgentToSingleName},
		[][]string{{hosts[2].addr()}, {hosts[2].addr()}})
	waitIdentity(t, obcluster.IdentitySingle, hosts[2])
	st, _ = hosts[0].api.reg.refresh(ctx)
	if len(st.Agents) != 1 || st.Observer.Zone["z2"] != nil {
		t.Fatalf("registry after %s left: agents %v, zone config %v", hosts[2].addr(), st.Agents, st.Observer.Zone)
	}
	// Its DAG is the follower's, listed as its last maintenance.
	if last, err := follower.GetAgentLastMaintenanceDag(ctx); err != nil || last.GenericID != removed.GenericID {
		t.Fatalf("follower's last maintenance DAG: %+v %v", last, err)
	}

	// Both come back; then the master is under maintenance (a config DAG
	// waits for its stopped host worker) and every remove is refused.
	join(hosts[1], "z2")
	join(hosts[2], "z3")
	hosts[0].worker.Stop()
	hosts[0].worker = nil
	busy, err := master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "GLOBAL"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = master.RemoveAgent(ctx, obcluster.Agent{IP: hosts[1].ip, Port: 2886})
	wantAPIError(t, err, 500, "Agent.UnderMaintenance", hosts[0].addr()+" is under maintenance")
	_, err = master.RemoveAgent(ctx, mi)
	wantAPIError(t, err, 500, "Agent.UnderMaintenance", hosts[0].addr()+" is under maintenance")
	_, err = follower.RemoveAgent(ctx, obcluster.Agent{IP: hosts[2].ip, Port: 2886})
	wantAPIError(t, err, 500, "Agent.UnderMaintenance", hosts[0].addr()+" is under maintenance")
	hosts[0].startWorker(t)
	waitOK(t, master, busy, nil)

	// A follower leaving holds the master's lock too (obshell's master
	// runs its own DAG for it): its worker is stopped, so its DAG waits,
	// and the master takes no maintenance DAG meanwhile.
	hosts[2].worker.Stop()
	hosts[2].worker = nil
	leaving, err := follower.RemoveAgent(ctx, obcluster.Agent{IP: hosts[2].ip, Port: 2886})
	if err != nil {
		t.Fatal(err)
	}
	_, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "GLOBAL"}})
	wantAPIError(t, err, 500, "Agent.UnderMaintenance", "Create task 'Update observer config' failed: "+hosts[0].addr()+" is under maintenance")
	hosts[2].startWorker(t)
	waitOK(t, master, leaving, nil)
	join(hosts[2], "z3")

	// The master removes itself: "Remove all agents", every agent SINGLE,
	// the configs gone. A follower asking to remove the master is
	// forwarded to it in obshell; here it creates the same DAG.
	dag, err = follower.RemoveAgent(ctx, mi)
	removed = waitOK(t, master, dag, err)
	checkRemoveDag(t, removed, workflows.RemoveAllAgentsName, []string{activities.RemoveFollowerName, activities.RemoveMasterName},
		[][]string{{hosts[1].addr(), hosts[2].addr()}, {hosts[0].addr()}})
	recordHistory(t, "remove-all-agents", removed.GenericID)
	waitIdentity(t, obcluster.IdentitySingle, hosts...)
	st, _ = hosts[0].api.reg.refresh(ctx)
	if len(st.Agents) != 0 || len(st.Observer.Global) != 0 || len(st.Observer.Zone) != 0 || len(st.Locks) != 0 {
		t.Fatalf("registry after removing all: agents %v, observer %+v, locks %v", st.Agents, st.Observer, st.Locks)
	}
	// SINGLE removing itself: 204.
	if dag, err := master.RemoveAgent(ctx, mi); err != nil || dag != nil {
		t.Fatalf("SINGLE removing itself: %+v %v, want 204", dag, err)
	}
}

// TestPythonSDKCleanupAfterFailedInit: the Python SDK's agg_create_cluster
// with clear_if_failed (CONTRACT.md §2.2 step 6, §2.4) after a failed init: ROLLBACK
// the failed "Initialize cluster", then POST /api/v1/agent/remove of the
// master itself. Every agent is SINGLE again, and a new create-cluster
// flow over the same agents succeeds.
func TestPythonSDKCleanupAfterFailedInit(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	hosts := startHosts(t, "registry-cleanup", "127.0.3.35", "127.0.3.36", "127.0.3.37")
	ctx := context.Background()
	if err := obsim.WriteFaults(hosts[0].home, obsim.Faults{BootstrapError: &obsim.SQLErrorSpec{Code: 4179, Message: "simulated bootstrap failure"}}); err != nil {
		t.Fatal(err)
	}
	master := pythonCreateCluster(t, hosts, "obflow-cleanup", 31)
	dag, err := master.Init(ctx, obshell.ObInitParam{})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := master.WaitDagSucceed(wctx, dag.GenericID, pollInterval); err == nil {
		t.Fatal("init succeeded despite the bootstrap fault")
	}

	// agg_clear_uninitialized_agent: the master's last maintenance DAG is
	// the failed init; roll it back, then remove the master itself.
	last, err := master.GetAgentLastMaintenanceDag(ctx)
	if err != nil || last.Name != workflows.InitializeClusterName || last.State != obcluster.StateFailed {
		t.Fatalf("last maintenance DAG: %+v %v", last, err)
	}
	if _, err := master.OperateDagSync(wctx, last.GenericID, obcluster.OperatorRollback, pollInterval); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	dag, err = master.RemoveAgent(ctx, obcluster.Agent{IP: hosts[0].ip, Port: 2886})
	removed := waitOK(t, master, dag, err)
	if removed.Name != workflows.RemoveAllAgentsName {
		t.Fatalf("cleanup DAG %q", removed.Name)
	}
	waitIdentity(t, obcluster.IdentitySingle, hosts...)

	// The same agents form a new cluster.
	if err := obsim.WriteFaults(hosts[0].home, obsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	master = pythonCreateCluster(t, hosts, "obflow-cleanup-2", 32)
	dag, err = master.Init(ctx, obshell.ObInitParam{})
	checkInitialized(t, hosts, waitOK(t, master, dag, err), master)
}

// pythonCreateCluster runs the Python SDK's flow up to init: join self,
// per-server observer config, join and config each follower, cluster
// config with the root password (then the candidate credential).
func pythonCreateCluster(t *testing.T, hosts []*simHost, cluster string, id int) *obshellclient.Client {
	t.Helper()
	ctx := context.Background()
	master := newClient(t, hosts[0].addr(), hybridauth.CasingPython, "")
	mi := obcluster.Agent{IP: hosts[0].ip, Port: 2886}
	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z1"})
	waitOK(t, master, dag, err)
	for i, h := range hosts {
		if i > 0 {
			f := newClient(t, h.addr(), hybridauth.CasingPython, "")
			dag, err := f.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: fmt.Sprintf("z%d", i+1)})
			waitOK(t, master, dag, err)
		}
		dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "SERVER", Target: []string{h.addr()}}})
		waitOK(t, master, dag, err)
	}
	pwd := rootPwd
	dag, err = master.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterName: &cluster, ClusterID: &id, RootPwd: &pwd})
	waitOK(t, master, dag, err)
	master.SetCandidatePassword(rootPwd)
	return master
}

// TestRemoveErrorTable: every error POST /api/v1/agent/remove and DELETE
// /api/v1/agent can give besides maintenance of the master (in
// TestErrorTable), on prepared registries.
func TestRemoveErrorTable(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	const (
		mIP, busyIP, fIP, sIP = "127.0.3.40", "127.0.3.41", "127.0.3.42", "127.0.3.43"
		caIP, orphanIP        = "127.0.3.44", "127.0.3.45"
	)
	busyDag, _ := obshell.EncodeLocalID(obcluster.Agent{IP: busyIP, Port: 2886}, 1)
	startRegistry(t, "registry-remove-errors", workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(mIP, "MASTER", "z1"), record(busyIP, "FOLLOWER", "z1"), record(fIP, "FOLLOWER", "z2")},
		RootPassword: tablePwd, RootPwdSet: true,
		// A follower whose own DAG holds its lock: the master's "Remove
		// follower" would make it create one more.
		Locks: map[string]string{busyIP + ":2886": busyDag},
	})
	startRegistry(t, "registry-remove-init", workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(caIP, "CLUSTER AGENT", "z1")},
		RootPassword: tablePwd, RootPwdSet: true, Initialized: true,
	})
	startRegistry(t, "registry-remove-orphan", workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record(orphanIP, "FOLLOWER", "z1")},
		RootPassword: tablePwd, RootPwdSet: true,
	})
	master := tableServer(t, "registry-remove-errors", mIP, "")
	follower := tableServer(t, "registry-remove-errors", fIP, "")
	single := tableServer(t, "registry-remove-errors", sIP, "")
	clusterAgent := tableServer(t, "registry-remove-init", caIP, "")
	orphan := tableServer(t, "registry-remove-orphan", orphanIP, "")
	ok := authReq{pwd: tablePwd}
	body := func(ip string) string { return fmt.Sprintf(`{"ip":%q,"port":2886}`, ip) }

	cases := []errCase{
		{"malformed json", master, "POST", "/api/v1/agent/remove", `{"ip":`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: unexpected EOF"},
		{"wrong json type", master, "DELETE", "/api/v1/agent", `{"ip":"127.0.3.42","port":"2886"}`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: json: cannot unmarshal string into Go struct field AgentRemoveParam.port of type int"},
		{"missing port", master, "POST", "/api/v1/agent/remove", `{"ip":"127.0.3.42"}`, ok, 400, "Common.BindJsonFailed", 0, "Bind JSON failed: Key: 'AgentInfo.Port' Error:Field validation for 'Port' failed on the 'required' tag"},
		{"missing header", master, "POST", "/api/v1/agent/remove", body(fIP), authReq{none: true}, 400, "Request.Header.NotFound", 0, "X-OCS-Agent-Header or X-OCS-Header not found in http request header"},
		{"wrong password", master, "POST", "/api/v1/agent/remove", body(fIP), authReq{pwd: "nope"}, 401, "Security.Authentication.IncorrectOceanbasePassword", 10008, "Unauthorized: OceanBase password is incorrect"},
		{"SINGLE removes another agent", single, "POST", "/api/v1/agent/remove", body(fIP), ok, 400, "Agent.Identify.NotSupportOperation", 0, "'127.0.3.43:2886' is 'SINGLE', instead of 'MASTER or FOLLOWER', does not support this operation"},
		{"CLUSTER AGENT removes itself", clusterAgent, "POST", "/api/v1/agent/remove", body(caIP), ok, 400, "Agent.Identify.NotSupportOperation", 0, "'127.0.3.44:2886' is 'CLUSTER AGENT', instead of 'MASTER or FOLLOWER', does not support this operation"},
		{"FOLLOWER without a master", orphan, "POST", "/api/v1/agent/remove", body(orphanIP), ok, 500, "Agent.NoMaster", 0, "Master agent is not found"},
		{"follower under maintenance", master, "POST", "/api/v1/agent/remove", body(busyIP), ok, 500, "Agent.UnderMaintenance", 0, "Create task 'Remove follower agent 127.0.3.41:2886' failed: 127.0.3.41:2886 is under maintenance"},
		{"follower under maintenance, through a FOLLOWER", follower, "POST", "/api/v1/agent/remove", body(busyIP), ok, 500, "Agent.UnderMaintenance", 0, "Create task 'Remove follower agent 127.0.3.41:2886' failed: 127.0.3.41:2886 is under maintenance"},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

// TestJoinRightAfterJoinSelf: a follower's join sent the moment the
// master's "Join self" DAG is seen SUCCEED must find the master MASTER,
// with no client-side retry (starter's joinFollower had one for a stale
// snapshot). The followers refresh their snapshot every few milliseconds,
// so a background query is nearly always in flight when the join comes:
// the case where a query issued before the master changed must not serve
// the join. Each round removes all agents again.
func TestJoinRightAfterJoinSelf(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	old := hostRefreshInterval
	hostRefreshInterval = 3 * time.Millisecond
	hosts := startHosts(t, "registry-join-race", "127.0.3.90", "127.0.3.91", "127.0.3.92")
	hostRefreshInterval = old
	ctx := context.Background()
	master := newClient(t, hosts[0].addr(), hybridauth.CasingGo, "")
	mi := obcluster.Agent{IP: hosts[0].ip, Port: 2886}
	rounds := 15
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z1"})
		waitOK(t, master, dag, err)
		for _, h := range hosts[1:] {
			f := newClient(t, h.addr(), hybridauth.CasingPython, "")
			dag, err := f.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z2"})
			if err != nil {
				t.Fatalf("round %d: join %s right after Join self: %v", round, h.addr(), err)
			}
			waitOK(t, master, dag, nil)
		}
		dag, err = master.RemoveAgent(ctx, mi)
		waitOK(t, master, dag, err)
		waitIdentity(t, obcluster.IdentitySingle, hosts...)
	}
}

// TestRemoveAllWithADeadFollower: the master removes everyone while a
// follower's host is down. Its "Remove follower" sub-task fails as
// unreachable (obshell's RPC task gives up after 30 tries); the DAG
// cannot be passed as a whole ("Remove master" cannot pass), but the node
// can, and then the master removes every record, the dead host's too.
func TestRemoveAllWithADeadFollower(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	old := hostPlanOptions
	hostPlanOptions.Defaults.ScheduleToStart = 2 * time.Second
	hosts := startHosts(t, "registry-remove-dead", "127.0.3.33", "127.0.3.34")
	hostPlanOptions = old
	ctx := context.Background()
	master := newClient(t, hosts[0].addr(), hybridauth.CasingGo, "")
	mi := obcluster.Agent{IP: hosts[0].ip, Port: 2886}
	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z1"})
	waitOK(t, master, dag, err)
	f := newClient(t, hosts[1].addr(), hybridauth.CasingGo, "")
	dag, err = f.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z2"})
	waitOK(t, master, dag, err)

	hosts[1].worker.Stop()
	hosts[1].worker = nil
	dag, err = master.RemoveAgent(ctx, mi)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	failed, err := master.WaitDagSucceed(wctx, dag.GenericID, pollInterval)
	var df *obshellclient.DagFailedError
	if !errors.As(err, &df) || failed.Nodes[0].State != obcluster.StateFailed || failed.Nodes[1].State != obcluster.StatePending {
		t.Fatalf("remove all with a dead follower: %v", err)
	}
	if logs := obshellclient.GetFailedDagLastLog(failed); len(logs) != 1 || !strings.Contains(logs[0], "unreachable") {
		t.Fatalf("failed sub-task's last log %q", logs)
	}
	err = master.OperateDag(ctx, failed.GenericID, obcluster.OperatorPass)
	wantAPIError(t, err, 400, "Task.Dag.Operator.PassNotAllowed", "Failed to pass DAG: node Remove master cannot pass")
	if err := master.OperateNode(ctx, failed.Nodes[0].GenericID, obcluster.OperatorPass); err != nil {
		t.Fatal(err)
	}
	done, err := master.WaitDagSucceed(wctx, failed.GenericID, pollInterval)
	if err != nil || done.Nodes[0].Operator != obcluster.OperatorPass || done.Nodes[1].State != obcluster.StateSucceed {
		t.Fatalf("after passing the node: %+v %v", done, err)
	}
	waitIdentity(t, obcluster.IdentitySingle, hosts...)
}
