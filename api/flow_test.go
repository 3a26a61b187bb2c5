package api

import (
	"context"
	"database/sql"
	"errors"
	"github.com/obflow/obflow/internal/obcluster"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
)

const (
	rootPwd      = "Root'pw#1"
	pollInterval = 200 * time.Millisecond
)

// observerConfig keeps the simulated observers small.
var observerConfig = map[string]string{"memory_limit": "6G", "datafile_size": "2G", "cpu_count": "4"}

func newClient(t *testing.T, addr string, casing hybridauth.Casing, pwd string) *obshellclient.Client {
	t.Helper()
	c, err := obshellclient.New(addr, obshellclient.WithCasing(casing), obshellclient.WithPassword(pwd))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitOK(t *testing.T, c *obshellclient.Client, dag *obshell.DagDetailDTO, err error) *obshell.DagDetailDTO {
	t.Helper()
	if err != nil {
		t.Fatalf("create DAG: %v", err)
	}
	if dag.State != obcluster.StateReady || dag.Operator != obcluster.OperatorRun || dag.Stage != 1 || dag.Nodes != nil {
		t.Fatalf("new DAG %s: %s/%s stage %d nodes %v, want READY/RUN stage 1 without nodes", dag.Name, dag.State, dag.Operator, dag.Stage, dag.Nodes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done, err := c.WaitDagSucceed(ctx, dag.GenericID, pollInterval)
	if err != nil {
		t.Fatalf("DAG %s %s: %v", dag.Name, dag.GenericID, err)
	}
	return done
}

// TestGoSDKCreateCluster runs the Go SDK's CreateClusterWithRequest
// sequence (CONTRACT.md §2.1) against three agents, Go casing.
func TestGoSDKCreateCluster(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	hosts := startHosts(t, "registry-go", "127.0.3.2", "127.0.3.3", "127.0.3.4")
	ctx := context.Background()
	zones := []string{"zone1", "zone2", "zone3"}
	master := newClient(t, hosts[0].addr(), hybridauth.CasingGo, rootPwd)
	masterInfo := obcluster.Agent{IP: hosts[0].ip, Port: 2886}

	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: masterInfo, ZoneName: zones[0]})
	if got := waitOK(t, master, dag, err); got.Name != activities.JoinSelfName {
		t.Fatalf("join self DAG is %q", got.Name)
	}
	for i, h := range hosts[1:] {
		f := newClient(t, h.addr(), hybridauth.CasingGo, rootPwd)
		dag, err := f.Join(ctx, obshell.JoinApiParam{AgentInfo: masterInfo, ZoneName: zones[i+1]})
		// The SDK polls the follower's DAG through the master.
		if got := waitOK(t, master, dag, err); got.Name != activities.JoinMasterName || len(got.Nodes) != 2 {
			t.Fatalf("join DAG %q with %d nodes", got.Name, len(got.Nodes))
		}
	}
	dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Restart: true, Scope: obshell.Scope{Type: "GLOBAL"}})
	waitOK(t, master, dag, err)
	name, id, pwd := "obflow-go", 11, rootPwd
	dag, err = master.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterName: &name, ClusterID: &id, RootPwd: &pwd})
	waitOK(t, master, dag, err)
	dag, err = master.Init(ctx, obshell.ObInitParam{})
	initDag := waitOK(t, master, dag, err)

	checkInitialized(t, hosts, initDag, master)
	recordHistory(t, "init-success", initDag.GenericID)
	if *loadDuration > 0 {
		// The DAG view must not depend on workers: stop the host workers
		// (the coordinator keeps the registry answering), then load it.
		for _, h := range hosts {
			h.worker.Stop()
			h.worker = nil
		}
		loadFinishedDag(t, hosts[0].addr(), hosts[0].api.cfg.Key.PublicKeyBase64(), initDag.GenericID, rootPwd)
	}
}

// TestPythonSDKCreateCluster runs the Python SDK's agg_create_cluster
// sequence (CONTRACT.md §2.2), Python casing, per-server observer config.
func TestPythonSDKCreateCluster(t *testing.T) {
	needServer(t)
	coordinator := startCoordinator(t)
	hosts := startHosts(t, "registry-py", "127.0.3.5", "127.0.3.6", "127.0.3.7")
	ctx := context.Background()
	master := newClient(t, hosts[0].addr(), hybridauth.CasingPython, "")
	masterInfo := obcluster.Agent{IP: hosts[0].ip, Port: 2886}

	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: masterInfo, ZoneName: "z1"})
	waitOK(t, master, dag, err)
	dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "SERVER", Target: []string{hosts[0].addr()}}})
	waitOK(t, master, dag, err)
	for i, h := range hosts[1:] {
		f := newClient(t, h.addr(), hybridauth.CasingPython, "")
		dag, err := f.Join(ctx, obshell.JoinApiParam{AgentInfo: masterInfo, ZoneName: []string{"z2", "z3"}[i]})
		waitOK(t, master, dag, err)
		dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "server", Target: []string{h.addr()}}})
		waitOK(t, master, dag, err)
	}
	name, id, pwd := "obflow-py", 12, rootPwd
	dag, err = master.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterName: &name, ClusterID: &id, RootPwd: &pwd})
	waitOK(t, master, dag, err)
	dag, err = master.Init(ctx, obshell.ObInitParam{})
	initDag := waitOK(t, master, dag, err)

	checkInitialized(t, hosts, initDag, master)

	// The list routes: the master owns join self, 3 observer configs, the
	// cluster config and the init; each follower its join.
	last, err := master.GetAgentLastMaintenanceDag(ctx)
	if err != nil || last.GenericID != initDag.GenericID || last.State != obcluster.StateSucceed || len(last.Nodes) != 11 {
		t.Fatalf("maintain/agent: %+v %v", last, err)
	}
	if unfinished, err := master.GetUnfinishedDags(ctx); err != nil || len(unfinished) != 0 {
		t.Fatalf("unfinish: %d DAGs, %v", len(unfinished), err)
	}
	if mine, err := master.GetAgentDags(ctx); err != nil || len(mine) != 6 || mine[5].GenericID != initDag.GenericID {
		t.Fatalf("dags/agent: %d DAGs, %v", len(mine), err)
	}
	if all, err := master.GetClusterDags(ctx); err != nil || len(all) != 8 {
		t.Fatalf("dags/ob: %d DAGs, %v", len(all), err)
	}
	if lasts, err := master.GetAllAgentsLastMaintenanceDag(ctx); err != nil || len(lasts) != 3 || lasts[1].Name != activities.JoinMasterName {
		t.Fatalf("maintain/agents: %d DAGs, %v", len(lasts), err)
	}

	// Every worker stopped: the DTOs still come from history.
	coordinator.Stop()
	for _, h := range hosts {
		h.worker.Stop()
		h.worker = nil
	}
	got, err := master.GetDag(ctx, initDag.GenericID)
	if err != nil || got.State != obcluster.StateSucceed || len(got.Nodes) != 11 || got.Nodes[10].SubTasks[2].ExecuteAgent.IP != hosts[2].ip {
		t.Fatalf("init DTO with every worker stopped: %+v, %v", got, err)
	}
	node, err := master.GetNode(ctx, got.Nodes[2].GenericID)
	if err != nil || node.Name != activities.StartObserverName || len(node.SubTasks) != 3 {
		t.Fatalf("node with every worker stopped: %+v, %v", node, err)
	}
	sub, err := master.GetSubTask(ctx, node.SubTasks[1].GenericID)
	if err != nil || sub.State != obcluster.StateSucceed || len(sub.TaskLogs) == 0 {
		t.Fatalf("sub-task with every worker stopped: %+v, %v", sub, err)
	}
	logs, err := master.GetSubTaskLogs(ctx, node.SubTasks[1].GenericID)
	if err != nil || len(logs) != len(sub.TaskLogs) {
		t.Fatalf("sub-task logs with every worker stopped: %d rows, %v", len(logs), err)
	}
}

// initNodeNames are obshell's node names of a default init (CONTRACT.md §7.5.1).
var initNodeNames = []string{
	activities.IntegrateConfigName, activities.CreateWorkdirName, activities.StartObserverName,
	activities.ClusterBootstrapName, activities.MigrateTableName, activities.ModifyPasswordName,
	activities.MigrateDataName, activities.ConvertFollowerName, activities.SyncAgentName,
	activities.ConvertMasterName, activities.SyncAgentName,
}

func checkInitialized(t *testing.T, hosts []*simHost, dag *obshell.DagDetailDTO, master *obshellclient.Client) {
	t.Helper()
	ctx := context.Background()
	if dag.Stage != dag.MaxStage || dag.MaxStage != 11 || len(dag.Nodes) != 11 {
		t.Fatalf("init DAG stage %d/%d with %d nodes", dag.Stage, dag.MaxStage, len(dag.Nodes))
	}
	for i, n := range dag.Nodes {
		if n.Name != initNodeNames[i] || n.State != obcluster.StateSucceed {
			t.Errorf("node %d: %q %s, want %q SUCCEED", i+1, n.Name, n.State, initNodeNames[i])
		}
		for _, st := range n.SubTasks {
			if st.State != obcluster.StateSucceed || st.ExecuteAgent.IP == "" || st.ExecuteAgent.Port == 0 || st.ExecuteTimes < 1 {
				t.Errorf("node %q sub-task %s: %s on %v, %d executions", n.Name, st.GenericID, st.State, st.ExecuteAgent, st.ExecuteTimes)
			}
		}
	}
	// The registry marks the agents once the init workflow has closed;
	// the snapshot follows within its refresh interval.
	deadline := time.Now().Add(10 * time.Second)
	for _, h := range hosts {
		c := newClient(t, h.addr(), hybridauth.CasingGo, rootPwd)
		for {
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Identity == obcluster.IdentityClusterAgent {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, want CLUSTER AGENT", h.addr(), info.Identity)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	checkAllAgent(t, hosts)
	st, err := master.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.OBState != obshell.OBStateAvailable {
		t.Errorf("obState %d, want 3", st.OBState)
	}
	// Init twice → 400 OB.Cluster.AlreadyInitialized.
	_, err = master.Init(ctx, obshell.ObInitParam{})
	var apiErr *obshellclient.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrCode != "OB.Cluster.AlreadyInitialized" || apiErr.HTTPStatus != 400 {
		t.Errorf("second init: %v, want 400 OB.Cluster.AlreadyInitialized", err)
	}
}

// checkAllAgent: after init, ocs.all_agent on the master's observer holds
// each agent as it reports itself, as obshell's rows do: the version and
// architecture of its /api/v1/info (architecture in obshell's names), its
// host's OS, and the public key of its /api/v1/secret, carried from the
// agent's join to the init.
func checkAllAgent(t *testing.T, hosts []*simHost) {
	t.Helper()
	ctx := context.Background()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = "root", rootPwd, "tcp", net.JoinHostPort(hosts[0].ip, "2881"), "ocs"
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, h := range hosts {
		c := newClient(t, h.addr(), hybridauth.CasingGo, rootPwd)
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := c.Secret(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Architecture != obcluster.Architecture(runtime.GOARCH) || secret.PublicKey == "" {
			t.Fatalf("%s reports architecture %q and public key %q", h.addr(), info.Architecture, secret.PublicKey)
		}
		var identity, version, os, arch, pub string
		err = db.QueryRowContext(ctx, "SELECT identity, version, os, architecture, public_key FROM all_agent WHERE ip = ? AND port = 2886", h.ip).
			Scan(&identity, &version, &os, &arch, &pub)
		if err != nil {
			t.Fatalf("all_agent row of %s: %v", h.addr(), err)
		}
		if obcluster.Identity(identity) != obcluster.IdentityClusterAgent || version != info.Version || os != runtime.GOOS || arch != info.Architecture || pub != secret.PublicKey {
			t.Errorf("all_agent row of %s: %s/%s/%s/%s, key equal: %v; want %s/%s/%s/%s and its key",
				h.addr(), identity, version, os, arch, pub == secret.PublicKey, obcluster.IdentityClusterAgent, info.Version, runtime.GOOS, info.Architecture)
		}
	}
}
