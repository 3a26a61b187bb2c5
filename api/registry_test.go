package api

import (
	"context"
	"errors"
	"github.com/obflow/obflow/internal/obcluster"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/workflows"
)

// TestJoinOBVersionInconsistent: joining a master whose observer binary
// has another version is refused, by the handler (CONTRACT.md §3.5) and, for a
// request that raced past it, by the registry's own check.
func TestJoinOBVersionInconsistent(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	const (
		mIP, oddIP = "127.0.3.80", "127.0.3.81"
		reg        = "registry-ob-version"
		odd        = "4.2.1.0"
	)
	startRegistry(t, reg, workflows.RegistryState{Agents: []obcluster.AgentRecord{record(mIP, "MASTER", "z1")}})
	s := tableServer(t, reg, oddIP, "")
	s.cfg.OBVersion = odd
	want := "OB version is not consistent between 127.0.3.80:2886(" + DefaultOBVersion + ") and 127.0.3.81:2886(" + odd + ")"
	for _, casing := range []hybridauth.Casing{hybridauth.CasingGo, hybridauth.CasingPython} {
		body := `{"agentInfo":{"ip":"127.0.3.80","port":2886},"zoneName":"z2"}`
		if casing == hybridauth.CasingGo {
			body = `{"AgentInfo":{"ip":"127.0.3.80","port":2886},"zoneName":"z2"}`
		}
		errCase{"join a master of another OB version", s, "POST", "/api/v1/agent/join", body, authReq{casing: casing}, 400, "Agent.OB.Version.Inconsistent", 0, want}.run(t)
	}
	// The registry's check, as a create-dag that skipped the handler.
	_, err := s.reg.createDag(context.Background(), workflows.CreateDagRequest{
		Name: activities.JoinMasterName, Owner: s.selfRecord("z2"),
		Change: obcluster.RegistryChange{Master: obcluster.Agent{IP: mIP, Port: 2886}},
	})
	var oe *obshell.Error
	if !errors.As(err, &oe) || oe.ErrCode() != "Agent.OB.Version.Inconsistent" || oe.Error() != want {
		t.Fatalf("registry create-dag: %v, want %q", err, want)
	}
	if st, _ := s.reg.refresh(context.Background()); len(st.Agents) != 1 || len(st.Locks) != 0 || st.Seq[s.self.String()] != 0 {
		t.Fatalf("a refused join changed the registry: %+v", st)
	}
}

// TestRegistryContinueAsNew lowers the registry's history limit, drives
// DAGs through it until it has continued as new more than once, and checks
// that the agents, configs, locks, agent passwords and the DAG id
// sequence carried over and the API still answers for DAGs of old runs.
func TestRegistryContinueAsNew(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	const (
		reg            = "registry-can"
		otherAgent     = "127.0.3.71:2886"
		otherDag       = "21300000000000028860000007" // a lock held by a DAG of another agent
		passwordHolder = "127.0.3.72:2886"
	)
	startRegistry(t, reg, workflows.RegistryState{
		HistoryLimit:   60,
		Locks:          map[string]string{otherAgent: otherDag},
		AgentPasswords: map[string]string{passwordHolder: "kept"},
	})
	ctx := context.Background()
	d, err := temporalClient.DescribeWorkflowExecution(ctx, reg, "")
	if err != nil {
		t.Fatal(err)
	}
	firstRun := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()

	hosts := startHosts(t, reg, "127.0.3.70")
	master := newClient(t, hosts[0].addr(), hybridauth.CasingGo, "")
	mi := obcluster.Agent{IP: hosts[0].ip, Port: 2886}
	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: mi, ZoneName: "z1"})
	joinDag := waitOK(t, master, dag, err)
	var ids []string
	ids = append(ids, joinDag.GenericID)
	const configs = 8
	for i := range configs {
		dag, err := master.ConfigObserver(ctx, obshell.ObServerConfigParams{
			ObServerConfig: map[string]string{"memory_limit": "6G", "cpu_count": string(rune('1' + i))},
			Scope:          obshell.Scope{Type: "GLOBAL"},
		})
		ids = append(ids, waitOK(t, master, dag, err).GenericID)
	}

	// The first run continued as new; another run is current.
	first, err := temporalClient.DescribeWorkflowExecution(ctx, reg, firstRun)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.GetWorkflowExecutionInfo().GetStatus(); got != enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
		t.Fatalf("the registry's first run is %s, want continued as new", got)
	}
	cur, err := temporalClient.DescribeWorkflowExecution(ctx, reg, "")
	if err != nil {
		t.Fatal(err)
	}
	if cur.GetWorkflowExecutionInfo().GetExecution().GetRunId() == firstRun || cur.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("current registry run %s is %s", cur.GetWorkflowExecutionInfo().GetExecution().GetRunId(), cur.GetWorkflowExecutionInfo().GetStatus())
	}

	// The DAG ids are 1..n with no gap or repeat across runs.
	for i, gid := range ids {
		g, err := obshell.ParseGenericID(gid)
		if err != nil || g.ID != int64(i+1) {
			t.Fatalf("DAG %d has id %s (%v), want row id %d", i, gid, err, i+1)
		}
	}
	st, err := hosts[0].api.reg.refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	self := hosts[0].addr()
	if st.Identity(self) != obcluster.IdentityMaster || st.Seq[self] != int64(len(ids)) || st.Locks[otherAgent] != otherDag ||
		st.Locks[self] != "" || st.AgentPasswords[passwordHolder] != "kept" || st.Observer.Global["cpu_count"].Value != string(rune('0'+configs)) ||
		len(st.Dags[self]) != len(ids) || st.HistoryLimit != 60 {
		t.Fatalf("registry after continue-as-new: identity %s, seq %v, locks %v, passwords %d, global config %v, %d DAGs",
			st.Identity(self), st.Seq, st.Locks, len(st.AgentPasswords), st.Observer.Global, len(st.Dags[self]))
	}
	// The API answers for a DAG created in the first run and lists them all.
	if got, err := master.GetDag(ctx, joinDag.GenericID); err != nil || got.State != obcluster.StateSucceed || got.Name != activities.JoinSelfName {
		t.Fatalf("join DAG of the first run: %+v %v", got, err)
	}
	if mine, err := master.GetAgentDags(ctx); err != nil || len(mine) != len(ids) {
		t.Fatalf("dags/agent: %d DAGs, %v", len(mine), err)
	}
	if info, err := master.Info(ctx); err != nil || info.Identity != obcluster.IdentityMaster {
		t.Fatalf("info: %+v %v", info, err)
	}
	// And the next DAG takes the next id.
	dag, err = master.ConfigObserver(ctx, obshell.ObServerConfigParams{ObServerConfig: observerConfig, Scope: obshell.Scope{Type: "GLOBAL"}})
	if next := waitOK(t, master, dag, err); next.DagID != int64(len(ids)+1) {
		t.Fatalf("next DAG id %d, want %d", next.DagID, len(ids)+1)
	}
}
