package workflows

import (
	"errors"
	"reflect"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/taskqueue"
)

var (
	rmMaster = obcluster.Agent{IP: "127.0.2.60", Port: 2886}
	rmF1     = obcluster.Agent{IP: "127.0.2.61", Port: 2886}
	rmF2     = obcluster.Agent{IP: "127.0.2.62", Port: 2886}
)

func rec(a obcluster.Agent, identity obcluster.Identity, zone string) obcluster.AgentRecord {
	return obcluster.AgentRecord{Agent: a, Identity: identity, Zone: zone}
}

// TestRemovePlans: the remove DAGs' nodes, sub-task hosts, activities and
// flags (obshell's ob/agent/executor/agent, plus RETRY).
func TestRemovePlans(t *testing.T) {
	type node struct {
		name, activity string
		targets        []obcluster.Agent
		flags          Flags
	}
	rf := Flags{CanContinue: true, CanRetry: true, CanPass: true}
	cont := Flags{CanContinue: true, CanRetry: true}
	name := RemoveFollowerDagName(rmF1)
	cases := []struct {
		dag       string
		followers []obcluster.Agent
		owner     obcluster.Agent
		target    obcluster.Agent
		want      []node
	}{
		{RemoveAllAgentsName, []obcluster.Agent{rmF1, rmF2}, rmMaster, rmMaster, []node{
			{activities.RemoveFollowerName, activities.RemoveFollowerName, []obcluster.Agent{rmF1, rmF2}, rf},
			{activities.RemoveMasterName, activities.RemoveMasterName, []obcluster.Agent{rmMaster}, Flags{CanRetry: true}},
		}},
		{RemoveAllAgentsName, nil, rmMaster, rmMaster, []node{
			{activities.RemoveMasterName, activities.RemoveMasterName, []obcluster.Agent{rmMaster}, Flags{CanRetry: true}},
		}},
		{name, nil, rmMaster, rmF1, []node{
			{activities.RemoveFollowerName, activities.RemoveFollowerName, []obcluster.Agent{rmF1}, rf},
			{name, activities.RemoveFollowerAgentName, []obcluster.Agent{rmMaster}, cont},
		}},
		{FollowerRemoveSelfName, nil, rmF1, rmF1, []node{
			{activities.FollowerRemoveSelfName, activities.FollowerRemoveSelfName, []obcluster.Agent{rmF1}, cont},
			{activities.AgentToSingleName, activities.AgentToSingleName, []obcluster.Agent{rmF1}, cont},
		}},
	}
	for _, c := range cases {
		p, err := removeDagPlan(c.dag, 7, c.owner, c.target, c.followers, "", PlanOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c.dag, err)
		}
		if p.DagName != c.dag || p.MaintenanceType != obcluster.MaintenanceGlobal || p.MaxStage() != len(c.want) {
			t.Fatalf("%s: plan %q type %d with %d stages", c.dag, p.DagName, p.MaintenanceType, p.MaxStage())
		}
		for i, w := range c.want {
			st := p.Stages[i]
			var got []obcluster.Agent
			for _, tg := range st.Targets {
				got = append(got, tg.Agent)
				if tg.Queue != taskqueue.Host(tg.Agent.String()) {
					t.Errorf("%s node %d runs on %s", c.dag, i+1, tg.Queue)
				}
			}
			if st.Name != w.name || st.ActivityType() != w.activity || !reflect.DeepEqual(got, w.targets) || st.Flags != w.flags || st.Parallel != (len(w.targets) > 1) {
				t.Errorf("%s node %d: %q/%q on %v flags %+v, want %q/%q on %v flags %+v", c.dag, i+1, st.Name, st.ActivityType(), got, st.Flags, w.name, w.activity, w.targets, w.flags)
			}
		}
	}
	if _, err := removeDagPlan("Remove nothing", 1, rmMaster, rmMaster, nil, "", PlanOptions{}); err == nil {
		t.Error("an unknown remove DAG got a plan")
	}
	for n, want := range map[string]bool{RemoveAllAgentsName: true, FollowerRemoveSelfName: true, name: true, "Remove follower agent": false, activities.JoinSelfName: false} {
		if IsRemoveDag(n) != want {
			t.Errorf("IsRemoveDag(%q) = %v", n, !want)
		}
	}
}

func errCode(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

// TestRemoveChecks: the registry's preconditions of the remove DAGs.
func TestRemoveChecks(t *testing.T) {
	r := &registry{st: RegistryState{
		Agents: []obcluster.AgentRecord{rec(rmMaster, obcluster.IdentityMaster, "z1"), rec(rmF1, obcluster.IdentityFollower, "z1"), rec(rmF2, "", "z2")},
		Locks:  map[string]string{},
	}}
	req := func(name string, owner, target obcluster.Agent) CreateDagRequest {
		o, _ := r.st.Agent(owner.String())
		if o.IP == "" {
			o = rec(owner, "", "")
		}
		return CreateDagRequest{Name: name, Owner: o, Change: obcluster.RegistryChange{Agent: rec(target, "", "")}}
	}
	single := obcluster.Agent{IP: "127.0.2.63", Port: 2886}
	for _, c := range []struct {
		name string
		req  CreateDagRequest
		want string
	}{
		{"master removes all", req(RemoveAllAgentsName, rmMaster, rmMaster), ""},
		{"master removes a follower", req(RemoveFollowerDagName(rmF1), rmMaster, rmF1), ""},
		{"master removes a half-joined agent", req(RemoveFollowerDagName(rmF2), rmMaster, rmF2), ""},
		{"follower removes itself", req(FollowerRemoveSelfName, rmF1, rmF1), ""},
		{"follower removes all", req(RemoveAllAgentsName, rmF1, rmF1), obshell.CodeAgentIdentifyNotSupportOperation.Code},
		{"master removes itself as follower", req(FollowerRemoveSelfName, rmMaster, rmMaster), obshell.CodeAgentIdentifyNotSupportOperation.Code},
		{"master removes a non-member", req(RemoveFollowerDagName(single), rmMaster, single), obshell.CodeAgentNotExist.Code},
		{"name and target differ", req(RemoveFollowerDagName(rmF2), rmMaster, rmF1), obshell.CodeCommonIllegalArgument.Code},
		{"SINGLE removes a follower", req(RemoveFollowerDagName(rmF1), single, rmF1), obshell.CodeAgentIdentifyNotSupportOperation.Code},
	} {
		got := ""
		if err := r.check(c.req); err != nil {
			got = err.ErrCode()
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	r.st.Locks[rmMaster.String()] = "x"
	if err := r.check(req(FollowerRemoveSelfName, rmF1, rmF1)); err == nil || err.ErrCode() != obshell.CodeAgentUnderMaintenance.Code || err.Error() != rmMaster.String()+" is under maintenance" {
		t.Errorf("follower removes itself while the master is busy: %v", err)
	}
	delete(r.st.Locks, rmMaster.String())
	if got := r.alsoLocks(req(FollowerRemoveSelfName, rmF1, rmF1)); !reflect.DeepEqual(got, []string{rmMaster.String()}) {
		t.Errorf("Follower remove self also locks %v", got)
	}
	if got := r.alsoLocks(req(RemoveFollowerDagName(rmF1), rmMaster, rmF1)); !reflect.DeepEqual(got, []string{rmF1.String()}) {
		t.Errorf("Remove follower agent also locks %v", got)
	}
	if got := r.alsoLocks(req(RemoveAllAgentsName, rmMaster, rmMaster)); got != nil {
		t.Errorf("Remove all agents also locks %v", got)
	}
	// A closed DAG releases every lock it holds, and only those.
	r.st.Locks = map[string]string{rmMaster.String(): "g", rmF1.String(): "g", rmF2.String(): "h"}
	r.st.Dags = map[string][]DagRef{}
	r.closed(DagRef{GenericID: "g", Owner: rmF1.String()}, FollowerRemoveSelfName, DagResult{DagStatus: DagStatus{State: obcluster.StateSucceed, Operator: obcluster.OperatorRun}})
	if !reflect.DeepEqual(r.st.Locks, map[string]string{rmF2.String(): "h"}) {
		t.Errorf("locks after the close: %v", r.st.Locks)
	}
	r.st.Locks = map[string]string{}
	r.st.Locks[rmF1.String()] = "y"
	if err := r.check(req(RemoveFollowerDagName(rmF1), rmMaster, rmF1)); err == nil || err.ErrCode() != obshell.CodeAgentUnderMaintenance.Code {
		t.Errorf("master removes a busy follower: %v", err)
	}
}

// TestRemoveApply: what each remove change writes; every change is
// idempotent.
func TestRemoveApply(t *testing.T) {
	cfg := func() obcluster.ObserverConfig {
		v := map[string]obcluster.ConfigValue{"memory_limit": {Value: "6G", Revision: 1}}
		return obcluster.ObserverConfig{
			Global: v,
			Zone:   map[string]map[string]obcluster.ConfigValue{"z1": v, "z2": v},
			Server: map[string]map[string]obcluster.ConfigValue{rmF1.String(): v, rmF2.String(): v},
		}
	}
	cluster := &obcluster.ClusterConfig{Name: "c", ID: 1}
	r := &registry{st: RegistryState{
		Agents:   []obcluster.AgentRecord{rec(rmMaster, obcluster.IdentityMaster, "z1"), rec(rmF1, obcluster.IdentityFollower, "z1"), rec(rmF2, obcluster.IdentityFollower, "z2")},
		Observer: cfg(), Cluster: cluster, RootPassword: "pw", RootPwdSet: true,
		AgentPasswords: map[string]string{rmMaster.String(): "agent-pw"},
	}}

	// "Remove follower" then "Remove follower agent": F1 shares z1 with the
	// master, so z1's config stays.
	for range 2 {
		if _, err := r.applyAgentToSingle(rmF1.String()); err != nil {
			t.Fatal(err)
		}
	}
	if r.st.Identity(rmF1.String()) != obcluster.IdentitySingle {
		t.Fatalf("after Agent to single: %s", r.st.Identity(rmF1.String()))
	}
	for range 2 {
		if _, err := r.applyRemoveFollower(rmF1.String()); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := r.st.Agent(rmF1.String()); ok || r.st.Observer.Server[rmF1.String()] != nil || r.st.Observer.Zone["z1"] == nil {
		t.Fatalf("after removing F1: agents %v, config %+v", r.st.Agents, r.st.Observer)
	}
	// F2 is z2's last agent: the zone's config goes too.
	if _, err := r.applyRemoveFollower(rmF2.String()); err != nil {
		t.Fatal(err)
	}
	if r.st.Observer.Zone["z2"] != nil || r.st.Observer.Server[rmF2.String()] != nil {
		t.Fatalf("after removing F2: config %+v", r.st.Observer)
	}
	// The master is not a follower.
	if _, err := r.applyRemoveFollower(rmMaster.String()); errCode(err) != obshell.CodeAgentIdentifyNotSupportOperation.Code {
		t.Fatalf("removing the master as a follower: %v", err)
	}
	if _, err := r.applyAgentToSingle(rmMaster.String()); errCode(err) != obshell.CodeAgentIdentifyNotSupportOperation.Code {
		t.Fatalf("the master to single: %v", err)
	}

	// "Remove master": nothing of the cluster-to-be is left, but agent
	// passwords stay (obshell keeps them in each agent's sqlite).
	r.st.Agents = append(r.st.Agents, rec(rmF2, obcluster.IdentityFollower, "z2"))
	for range 2 {
		if _, err := r.applyRemoveMaster(rmMaster.String()); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.st.Agents) != 0 || r.st.Cluster != nil || r.st.RootPwdSet || r.st.RootPassword != "" || len(r.st.Observer.Global) != 0 || r.st.AgentPasswords[rmMaster.String()] != "agent-pw" {
		t.Fatalf("after Remove master: %+v", r.st)
	}
	// After init nothing is removed.
	r.st.Initialized = true
	if err := r.validateApply(nil, obcluster.RegistryChange{Kind: obcluster.ChangeRemoveMaster, Agent: rec(rmMaster, "", "")}); errCode(err) != obshell.CodeAgentIdentifyNotSupportOperation.Code {
		t.Fatalf("remove after init: %v", err)
	}
}
