package workflows

import (
	"errors"
	"fmt"
	"github.com/obflow/obflow/internal/obcluster"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/taskqueue"
)

var master = agent1.String()

func TestInitializeClusterSucceeds(t *testing.T) {
	base := []string{"Integrate config", "Create observer workdir", "Start observer", "Cluster boostrap",
		"Migrate table", "Modify password"}
	tail := []string{"Migrate data", "Convert follower to cluster agent", "Synchronize agent from cluster",
		"Convert master to cluster agent"}
	cases := []struct {
		name            string
		proxyro, script bool
		stages          []string
	}{
		{"plain", false, false, concat(base, tail, []string{"Synchronize agent from cluster"})},
		{"proxyro", true, false, concat(base, []string{"Create user"}, tail, []string{"Synchronize agent from cluster"})},
		{"import script", false, true, concat(base, tail, []string{"Import script for tenant", "Synchronize agent from cluster"})},
		{"both", true, true, concat(base, []string{"Create user"}, tail, []string{"Import script for tenant", "Synchronize agent from cluster"})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topo := testTopology()
			topo.CreateProxyroUser = tc.proxyro
			topo.ProxyroPassword = testProxyroPassword
			topo.ImportScript = tc.script
			in := testInput(t, topo, PlanOptions{})
			var names []string
			for _, s := range in.Plan.Stages {
				names = append(names, s.Name)
			}
			if !reflect.DeepEqual(names, tc.stages) {
				t.Fatalf("stages:\n got %q\nwant %q", names, tc.stages)
			}

			env, f := newEnv(t, scenario{})
			env.ExecuteWorkflow(InitializeClusterName, in)
			max := len(tc.stages)
			if r := result(t, env); r != (DagResult{DagStatus: DagStatus{State: obcluster.StateSucceed, Operator: obcluster.OperatorRun, Stage: max, MaxStage: max}}) {
				t.Fatalf("result %+v", r)
			}

			// One run per stage on the master's coordinator, or per host in join order.
			var want []string
			for i, s := range in.Plan.Stages {
				if s.Parallel {
					for _, h := range topo.Hosts {
						want = append(want, fmt.Sprintf("%d-run-1-%s", i+1, h.Agent))
					}
					continue
				}
				want = append(want, fmt.Sprintf("%d-run-1-%s", i+1, master))
			}
			// Siblings of a parallel stage start in any order.
			if got := f.ids(); !reflect.DeepEqual(sortedWithinStage(got), sortedWithinStage(want)) {
				t.Fatalf("activities:\n got %q\nwant %q", got, want)
			}
			for _, c := range f.calls {
				wantQueue := taskqueue.Coordinator
				if in.Plan.Stages[c.ID.Stage-1].Parallel {
					wantQueue = taskqueue.Host(c.ID.Agent.String())
				}
				if c.Queue != wantQueue || c.Type != in.Plan.Stages[c.ID.Stage-1].Name {
					t.Errorf("%s ran %q on %q, want %q on %q", c.ID, c.Type, c.Queue, in.Plan.Stages[c.ID.Stage-1].Name, wantQueue)
				}
			}

			trail := f.stateTrail()
			if trail[0] != "RUNNING/RUN/1" || trail[len(trail)-1] != fmt.Sprintf("SUCCEED/RUN/%d", max) || len(trail) != max+1 {
				t.Fatalf("search attribute trail %q", trail)
			}

			for _, c := range f.callsOf(activities.CreateUserName) {
				if c.Input.(activities.ClusterInput).ProxyroPassword != testProxyroPassword {
					t.Errorf("Create user did not get the proxyro password")
				}
			}
			for _, c := range f.callsOf(activities.ModifyPasswordName) {
				ci := c.Input.(activities.ClusterInput)
				if ci.RootPassword != testRootPassword || ci.ProxyroPassword != "" || ci.Master != agent1 || ci.Tenant != "sys" {
					t.Errorf("Modify password input %+v", ci)
				}
			}
		})
	}
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The cluster plan of "Integrate config" is what every later stage gets;
// the order of hosts it is given is the join order, and a plan that does
// not bootstrap the master's zone first is refused.
func TestClusterPlanFlowsFromIntegrateConfig(t *testing.T) {
	topo := testTopology()
	env, f := newEnv(t, scenario{})
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, topo, PlanOptions{}))
	result(t, env)

	ic := f.callsOf(activities.IntegrateConfigName)[0].Input.(activities.IntegrateConfigInput)
	if ic.Master != agent1 || !reflect.DeepEqual(ic.Hosts, topo.Hosts) || ic.Cluster != topo.Cluster || !reflect.DeepEqual(ic.Observer, topo.Observer) {
		t.Fatalf("Integrate config input %+v", ic)
	}
	want := fakeIntegrate(ic)
	want.Logs = nil
	boot := f.callsOf(activities.ClusterBootstrapName)[0].Input.(activities.ClusterInput)
	if !reflect.DeepEqual(boot.Plan, want) {
		t.Fatalf("bootstrap plan\n got %+v\nwant %+v", boot.Plan, want)
	}
	if !reflect.DeepEqual(boot.Plan.Zones, []string{"zone1", "zone3", "zone2"}) {
		t.Fatalf("zones %q: want the master's zone, then the join order", boot.Plan.Zones)
	}
	for _, c := range f.callsOf(activities.StartObserverName) {
		in := c.Input.(activities.StartObserverInput)
		if in.Server.Host.Agent != c.ID.Agent || !in.HealthCheck {
			t.Errorf("%s got the plan of %s (healthCheck %v)", c.ID, in.Server.Host.Agent, in.HealthCheck)
		}
	}
	for _, c := range f.callsOf(activities.CreateWorkdirName) {
		in := c.Input.(activities.WorkdirInput)
		if in.Agent != c.ID.Agent || in.Dirs.HomePath == "" {
			t.Errorf("%s got workdir input %+v", c.ID, in)
		}
	}
}

func TestClusterPlanWithWrongZoneOrderFailsStage1(t *testing.T) {
	env, f := newEnv(t, scenario{})
	f.integrate = func(in activities.IntegrateConfigInput) activities.IntegrateConfigResult {
		r := fakeIntegrate(in)
		r.Zones[0], r.Zones[1] = r.Zones[1], r.Zones[0]
		return r
	}
	in := testInput(t, testTopology(), PlanOptions{FailedDagTTL: time.Hour})
	env.ExecuteWorkflow(InitializeClusterName, in)
	r := result(t, env)
	if r.State != obcluster.StateFailed || r.Stage != 1 || !r.Expired {
		t.Fatalf("result %+v, want FAILED at stage 1, expired", r)
	}
	if len(f.calls) != 1 {
		t.Fatalf("ran %q after a bad cluster plan", f.ids())
	}
	if got := f.logs.find("sub-task failed", "activityId=1-run-1-"+master, "errCode=Common.Unexpected", "not the master's zone zone1"); len(got) != 1 {
		t.Fatalf("no Common.Unexpected record for the bad plan: %q", f.logs.find("sub-task failed"))
	}
}

func TestParallelStageFailsOnlyAfterEverySibling(t *testing.T) {
	host3run := "3-run-1-" + agent3.String()
	env, f := newEnv(t, scenario{
		fail:  map[string]error{host3run: nonRetryable("OB.Server.Process.NotExist", "Observer process does not exist", "start observer")},
		delay: map[string]time.Duration{"3-run-1-" + agent2.String(): 10 * time.Minute},
	})
	var at5, at20 DagStatus
	env.RegisterDelayedCallback(func() { at5 = status(t, env) }, 5*time.Minute)
	env.RegisterDelayedCallback(func() { at20 = status(t, env) }, 20*time.Minute)
	retry := operate(env, 30*time.Minute, obcluster.OperatorRetry.String())
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))

	if at5.State != obcluster.StateRunning || at5.Stage != 3 {
		t.Fatalf("at 5 min, while host 2 still starts: %+v, want RUNNING at 3", at5)
	}
	if at20.State != obcluster.StateFailed || at20.Operator != obcluster.OperatorRun || at20.Stage != 3 {
		t.Fatalf("at 20 min: %+v, want FAILED/RUN at 3", at20)
	}
	wantAccepted(t, "RETRY", retry)
	if retry.result.State != obcluster.StateRunning || retry.result.Operator != obcluster.OperatorRun {
		t.Fatalf("RETRY returned %+v", retry.result)
	}
	if r := result(t, env); r.State != obcluster.StateSucceed || r.Stage != 11 {
		t.Fatalf("result %+v", r)
	}

	// The retry rolled back only the failed sub-task, then ran only it again.
	var stage3 []string
	for _, id := range f.ids() {
		if strings.HasPrefix(id, "3-") {
			stage3 = append(stage3, id)
		}
	}
	want := []string{"3-run-1-" + agent1.String(), host3run, "3-run-1-" + agent2.String(),
		"3-rollback-2-" + agent3.String(), "3-run-3-" + agent3.String()}
	if !reflect.DeepEqual(sortedWithinStage(stage3[:3]), sortedWithinStage(want[:3])) || !reflect.DeepEqual(stage3[3:], want[3:]) {
		t.Fatalf("stage 3 activities\n got %q\nwant %q", stage3, want)
	}
	if c := f.callsOf(activities.StopObserverName); len(c) != 1 || c[0].Input.(activities.StartObserverInput).Server.Host.Agent != agent3 {
		t.Fatalf("Stop observer calls %+v", c)
	}
	trail := strings.Join(f.stateTrail(), " ")
	if !strings.Contains(trail, "FAILED/RUN/3 RUNNING/RUN/3 RUNNING/RUN/4") {
		t.Fatalf("trail %s", trail)
	}
}

func TestRetryAfterTransientErrorsIsAutomatic(t *testing.T) {
	// A retryable error (no obshell config code) is retried by the activity
	// retry policy within the same sub-task: no DAG failure, same id.
	id := "4-run-1-" + master
	env, f := newEnv(t, scenario{})
	f.failFn = func(activityID string, attempt int) error {
		if activityID == id && attempt <= 2 {
			return errors.New("dial tcp 127.0.2.1:2881: connection refused")
		}
		return nil
	}
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	if r := result(t, env); r.State != obcluster.StateSucceed {
		t.Fatalf("result %+v", r)
	}
	if n := f.attempts[id]; n != 3 {
		t.Fatalf("%s ran %d times, want 3", id, n)
	}
	if strings.Contains(strings.Join(f.stateTrail(), " "), "FAILED") {
		t.Fatalf("a transient error failed the DAG: %q", f.stateTrail())
	}
}

func TestRollbackRunsCompensationsInReverse(t *testing.T) {
	env, f := newEnv(t, scenario{fail: map[string]error{
		"5-run-1-" + master: nonRetryable("MySQL.Error", "MySQL error: table exists"),
	}})
	rb := operate(env, time.Hour, obcluster.OperatorRollback.String())
	again := operate(env, 2*time.Hour, obcluster.OperatorRollback.String()) // after the end: never answered
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	wantAccepted(t, "ROLLBACK", rb)
	if again.done {
		t.Fatalf("an update after the workflow ended was answered: %+v", again)
	}
	if r := result(t, env); r != (DagResult{DagStatus: DagStatus{State: obcluster.StateSucceed, Operator: obcluster.OperatorRollback, Stage: 1, MaxStage: 11}}) {
		t.Fatalf("result %+v", r)
	}
	ids := f.ids()
	after := ids[len(ids)-6:]
	var want []string
	for _, a := range []obcluster.Agent{agent1, agent3, agent2} {
		want = append(want, "3-rollback-2-"+a.String())
	}
	for _, a := range []obcluster.Agent{agent1, agent3, agent2} {
		want = append(want, "2-rollback-2-"+a.String())
	}
	if !reflect.DeepEqual(sortedWithinStage(after), sortedWithinStage(want)) {
		t.Fatalf("compensations\n got %q\nwant %q (stages 5, 4 and 1 have no-op rollbacks)", after, want)
	}
	if ids[len(ids)-7] != "5-run-1-"+master {
		t.Fatalf("activities %q", ids)
	}
	trail := strings.Join(f.stateTrail(), " ")
	if !strings.HasSuffix(trail, "FAILED/RUN/5 RUNNING/ROLLBACK/5 RUNNING/ROLLBACK/4 RUNNING/ROLLBACK/3 RUNNING/ROLLBACK/2 RUNNING/ROLLBACK/1 SUCCEED/ROLLBACK/1") {
		t.Fatalf("trail %s", trail)
	}
}

func TestFailedRollbackWaitsAndCanBeRolledBackAgain(t *testing.T) {
	destroy2 := "2-rollback-2-" + agent2.String()
	env, f := newEnv(t, scenario{fail: map[string]error{
		"4-run-1-" + master: nonRetryable("MySQL.Error", "bootstrap failed"),
		destroy2:            nonRetryable("Common.Unexpected", "remove store: permission denied"),
	}})
	first := operate(env, time.Hour, obcluster.OperatorRollback.String())
	var mid DagStatus
	env.RegisterDelayedCallback(func() { mid = status(t, env) }, 90*time.Minute)
	second := operate(env, 2*time.Hour, obcluster.OperatorRollback.String())
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	wantAccepted(t, "first ROLLBACK", first)
	wantAccepted(t, "second ROLLBACK", second)
	if mid != (DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorRollback, Stage: 2, MaxStage: 11}) {
		t.Fatalf("after the failed compensation: %+v", mid)
	}
	if r := result(t, env); r.State != obcluster.StateSucceed || r.Operator != obcluster.OperatorRollback || r.Stage != 1 {
		t.Fatalf("result %+v", r)
	}
	ids := f.ids()
	if got := ids[len(ids)-1]; got != "2-rollback-3-"+agent2.String() {
		t.Fatalf("last activity %s, want only the failed compensation again; all: %q", got, ids)
	}
}

func TestOperatorsRefusedWhileRunning(t *testing.T) {
	env, _ := newEnv(t, scenario{delay: map[string]time.Duration{"4-run-1-" + master: time.Hour}})
	retry := operate(env, 10*time.Minute, obcluster.OperatorRetry.String())
	rollback := operate(env, 11*time.Minute, obcluster.OperatorRollback.String())
	pass := operate(env, 12*time.Minute, obcluster.OperatorPass.String())
	passNode := operate(env, 13*time.Minute, UpdatePassNode, 4)
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	wantRejected(t, "RETRY", retry, "Task.Dag.Operator.RetryNotFailedDag", "Failed to set DAG retry: DAG state is not failed")
	wantRejected(t, "ROLLBACK", rollback, "Task.Dag.Operator.RollbackNotFailedDag", "Failed to set DAG rollback: DAG state is not failed")
	wantRejected(t, "PASS", pass, "Task.Dag.Operator.PassNotFailedDag", "Failed to pass DAG: DAG is not failed")
	wantRejected(t, "PASS_NODE", passNode, "Task.Node.Operator.PassNotFailedDag", "Failed to pass node: DAG is not failed")
	if r := result(t, env); r.State != obcluster.StateSucceed {
		t.Fatalf("result %+v", r)
	}
}

func TestOperatorsRefusedOnFailedDagAndExpiry(t *testing.T) {
	env, _ := newEnv(t, scenario{fail: map[string]error{"4-run-1-" + master: nonRetryable("MySQL.Error", "bootstrap failed")}})
	cancel := operate(env, 10*time.Minute, obcluster.OperatorCancel.String())
	pass := operate(env, 11*time.Minute, obcluster.OperatorPass.String())
	passNode4 := operate(env, 12*time.Minute, UpdatePassNode, 4)
	passNode3 := operate(env, 13*time.Minute, UpdatePassNode, 3)
	passNode0 := operate(env, 14*time.Minute, UpdatePassNode, 0)
	start := env.Now()
	var end time.Time
	env.SetOnTimerFiredListener(func(string) { end = env.Now() })
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{FailedDagTTL: 2 * time.Hour}))
	wantRejected(t, "CANCEL", cancel, "Task.Dag.Operator.CancelFinishedDag", "Failed to cancel DAG: DAG is finished")
	wantRejected(t, "PASS", pass, "Task.Dag.Operator.PassNotAllowed", "Failed to pass DAG: node Cluster boostrap cannot pass")
	wantRejected(t, "PASS_NODE 4", passNode4, "Task.Node.Operator.PassNotAllowed", "Failed to pass node: node Cluster boostrap cannot pass")
	wantRejected(t, "PASS_NODE 3", passNode3, "Task.Node.Operator.PassNotFailedNode", "Failed to pass node: node Start observer is not failed")
	wantRejected(t, "PASS_NODE 0", passNode0, "Task.NotFound", "Task not found: node 0 does not exist")
	r := result(t, env)
	if r != (DagResult{DagStatus: DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorRun, Stage: 4, MaxStage: 11}, Expired: true}) {
		t.Fatalf("result %+v", r)
	}
	if d := end.Sub(start); d < 2*time.Hour || d > 2*time.Hour+time.Minute {
		t.Fatalf("expired after %s, want 2h", d)
	}
}

func TestFailedDagExpiresAfterSevenDaysByDefault(t *testing.T) {
	env, _ := newEnv(t, scenario{fail: map[string]error{"2-run-1-" + agent2.String(): nonRetryable("Common.DirNotEmpty", "Directory '/x' is not empty")}})
	start := env.Now()
	var end time.Time
	env.SetOnTimerFiredListener(func(string) { end = env.Now() })
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	if r := result(t, env); !r.Expired || r.State != obcluster.StateFailed || r.Stage != 2 {
		t.Fatalf("result %+v", r)
	}
	if d := end.Sub(start); d < DefaultFailedDagTTL || d > DefaultFailedDagTTL+time.Minute {
		t.Fatalf("expired after %s", d)
	}
}

func TestRollbackRefusedPastCreateUser(t *testing.T) {
	topo := testTopology()
	topo.CreateProxyroUser = true
	env, f := newEnv(t, scenario{fail: map[string]error{"7-run-1-" + master: nonRetryable("MySQL.Error", "grant failed")}})
	rollback := operate(env, time.Hour, obcluster.OperatorRollback.String())
	retry := operate(env, 2*time.Hour, obcluster.OperatorRetry.String())
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, topo, PlanOptions{}))
	wantRejected(t, "ROLLBACK", rollback, "Task.Dag.Operator.RollbackNotAllowed", "Failed to set DAG rollback: node Create user cannot rollback")
	wantAccepted(t, "RETRY", retry)
	if r := result(t, env); r.State != obcluster.StateSucceed || r.MaxStage != 12 {
		t.Fatalf("result %+v", r)
	}
	// Create user has no compensation: the retry only runs it again.
	var stage7 []string
	for _, id := range f.ids() {
		if strings.HasPrefix(id, "7-") {
			stage7 = append(stage7, id)
		}
	}
	if want := []string{"7-run-1-" + master, "7-run-2-" + master}; !reflect.DeepEqual(stage7, want) {
		t.Fatalf("stage 7: %q, want %q", stage7, want)
	}
}

func TestCancelDuringHealthWait(t *testing.T) {
	long := "3-run-1-" + agent2.String()
	env, f := newEnv(t, scenario{delay: map[string]time.Duration{long: 10 * time.Minute}})
	var canceled []string
	env.SetOnActivityCanceledListener(func(info *activity.Info) { canceled = append(canceled, info.ActivityID) })
	cancel := operate(env, time.Minute, obcluster.OperatorCancel.String())
	var after DagStatus
	env.RegisterDelayedCallback(func() { after = status(t, env) }, 2*time.Minute)
	cancelAgain := operate(env, 30*time.Minute, obcluster.OperatorCancel.String())
	rollback := operate(env, time.Hour, obcluster.OperatorRollback.String())
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))

	wantAccepted(t, "CANCEL", cancel)
	if cancel.result.Operator != obcluster.OperatorCancel {
		t.Fatalf("CANCEL returned %+v", cancel.result)
	}
	if !reflect.DeepEqual(canceled, []string{long}) {
		t.Fatalf("canceled activities %q, want only the one still running", canceled)
	}
	if after != (DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorCancel, Stage: 3, MaxStage: 11}) {
		t.Fatalf("after CANCEL: %+v", after)
	}
	wantRejected(t, "second CANCEL", cancelAgain, "Task.Dag.Operator.CancelFinishedDag", "Failed to cancel DAG: DAG is finished")
	wantAccepted(t, "ROLLBACK", rollback)
	if r := result(t, env); r.State != obcluster.StateSucceed || r.Operator != obcluster.OperatorRollback {
		t.Fatalf("result %+v", r)
	}
	// Every started observer is stopped, the cancelled one included.
	if n := len(f.callsOf(activities.StopObserverName)); n != 3 {
		t.Fatalf("%d Stop observer, want 3", n)
	}
	if n := len(f.callsOf(activities.ClusterBootstrapName)); n != 0 {
		t.Fatalf("bootstrap ran after CANCEL")
	}
}

func TestCancelRefusedOnceModifyPasswordIsReached(t *testing.T) {
	env, _ := newEnv(t, scenario{delay: map[string]time.Duration{"6-run-1-" + master: time.Hour}})
	cancel := operate(env, 10*time.Minute, obcluster.OperatorCancel.String())
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	wantRejected(t, "CANCEL", cancel, "Task.Dag.Operator.CancelNotAllowed", "Failed to cancel DAG: node Modify password cannot cancel")
	if r := result(t, env); r.State != obcluster.StateSucceed {
		t.Fatalf("result %+v", r)
	}
}

func TestWorkflowCancellationMapsToCancel(t *testing.T) {
	env, f := newEnv(t, scenario{delay: map[string]time.Duration{"3-run-1-" + agent2.String(): 10 * time.Minute}})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	r := canceledResult(t, env)
	if r.DagStatus != (DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorCancel, Stage: 3, MaxStage: 11}) {
		t.Fatalf("canceled with %+v", r)
	}
	if trail := f.stateTrail(); trail[len(trail)-1] != "FAILED/CANCEL/3" {
		t.Fatalf("trail %q", trail)
	}
}

func TestWorkflowCancellationWaitsWhereCancelIsNotAllowed(t *testing.T) {
	env, _ := newEnv(t, scenario{delay: map[string]time.Duration{"6-run-1-" + master: 10 * time.Minute}})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	if r := result(t, env); r.State != obcluster.StateSucceed || r.Operator != obcluster.OperatorRun {
		t.Fatalf("result %+v: a running Modify password cannot be cancelled", r)
	}
}

func TestWorkflowCancellationClosesFailedDag(t *testing.T) {
	env, _ := newEnv(t, scenario{fail: map[string]error{"4-run-1-" + master: nonRetryable("MySQL.Error", "bootstrap failed")}})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	r := canceledResult(t, env)
	if r.DagStatus != (DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorRun, Stage: 4, MaxStage: 11}) || r.Expired {
		t.Fatalf("canceled with %+v", r)
	}
}

func canceledResult(t *testing.T, env interface{ GetWorkflowError() error }) DagResult {
	t.Helper()
	var canceled *temporal.CanceledError
	if err := env.GetWorkflowError(); !errors.As(err, &canceled) {
		t.Fatalf("workflow error %v, want canceled", err)
	}
	var r DagResult
	if err := canceled.Details(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPassNode(t *testing.T) {
	env, f := newEnv(t, scenario{fail: map[string]error{"3-run-1-" + agent2.String(): nonRetryable("OB.Server.Process.NotExist", "Observer process does not exist")}})
	pass := operate(env, time.Hour, UpdatePassNode, 3)
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	wantAccepted(t, "PASS_NODE", pass)
	if pass.result != (DagStatus{State: obcluster.StateRunning, Operator: obcluster.OperatorRun, Stage: 3, MaxStage: 11}) {
		t.Fatalf("PASS_NODE returned %+v", pass.result)
	}
	if r := result(t, env); r.State != obcluster.StateSucceed || r.Operator != obcluster.OperatorRun || r.Stage != 11 {
		t.Fatalf("result %+v", r)
	}
	if n := len(f.callsOf(activities.StartObserverName)); n != 3 {
		t.Fatalf("Start observer ran %d times after PASS_NODE, want 3", n)
	}
}

func TestAgentUnreachableAndUntypedErrorsAreRecorded(t *testing.T) {
	unreachable := "2-run-1-" + agent3.String()
	untyped := "2-run-1-" + agent2.String()
	env, f := newEnv(t, scenario{fail: map[string]error{
		unreachable: temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil),
		untyped:     temporal.NewNonRetryableApplicationError("boom", "", nil),
	}})
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{
		Defaults:     ActivityOptions{ScheduleToStart: 5 * time.Second},
		FailedDagTTL: time.Hour,
	}))
	if r := result(t, env); r.State != obcluster.StateFailed || r.Stage != 2 {
		t.Fatalf("result %+v", r)
	}
	if got := f.logs.find("sub-task failed", "activityId="+unreachable, "errCode=Agent.RPC.RequestError",
		"agent 127.0.2.3:2886 unreachable: no worker took the sub-task from task queue obflow-host-127.0.2.3:2886 within 5s"); len(got) != 1 {
		t.Fatalf("no unreachable record: %q", f.logs.find("sub-task failed"))
	}
	if got := f.logs.find("sub-task failed", "activityId="+untyped, "errCode=Common.Unexpected", "boom"); len(got) != 1 {
		t.Fatalf("no Common.Unexpected record: %q", f.logs.find("sub-task failed"))
	}
	if got := f.logs.find("sub-task failed", "activityId=2-run-1-"+master); len(got) != 0 {
		t.Fatalf("a successful sub-task was recorded as failed: %q", got)
	}
}

func TestNewInitializeClusterInputRejectsBadTopology(t *testing.T) {
	for name, mutate := range map[string]func(*Topology){
		"no hosts":          func(t *Topology) { t.Hosts = nil },
		"master not a host": func(t *Topology) { t.Master = obcluster.Agent{IP: "127.0.2.9", Port: 2886} },
		"duplicate host":    func(t *Topology) { t.Hosts = append(t.Hosts, t.Hosts[0]) },
		"bad port":          func(t *Topology) { t.Hosts[1].Agent.Port = 70000 },
	} {
		topo := testTopology()
		mutate(&topo)
		if _, err := NewInitializeClusterInput(1, topo, PlanOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestInitPlanFlagsAndOptions(t *testing.T) {
	topo := testTopology()
	topo.CreateProxyroUser, topo.ImportScript = true, true
	in := testInput(t, topo, PlanOptions{Stages: map[string]ActivityOptions{activities.StartObserverName: {Heartbeat: 3 * time.Second}}})
	// cancel, continue, retry, rollback, pass per CONTRACT.md §7.5.1.
	want := map[string]string{
		"Integrate config": "CcRr-", "Create observer workdir": "CcRr-", "Start observer": "CcRrP",
		"Cluster boostrap": "CcRr-", "Migrate table": "CcRr-", "Modify password": "-cRr-", "Create user": "CcR--",
		"Migrate data": "CcRr-", "Convert follower to cluster agent": "-cRr-", "Synchronize agent from cluster": "CcR--",
		"Convert master to cluster agent": "-cRr-", "Import script for tenant": "CcR-P",
	}
	for _, s := range in.Plan.Stages {
		f := s.Flags
		got := string([]byte{pick(f.CanCancel, 'C'), pick(f.CanContinue, 'c'), pick(f.CanRetry, 'R'), pick(f.CanRollback, 'r'), pick(f.CanPass, 'P')})
		if got != want[s.Name] {
			t.Errorf("%s flags %s, want %s", s.Name, got, want[s.Name])
		}
	}
	start := in.Plan.stageOptions(&in.Plan.Stages[2])
	if start.Heartbeat != 3*time.Second || start.StartToClose != 15*time.Minute || start.ScheduleToStart != 30*time.Second {
		t.Fatalf("Start observer options %+v", start)
	}
	if in.Plan.Stages[2].Rollback != activities.StopObserverName || in.Plan.Stages[1].Rollback != activities.DestroyWorkdirName {
		t.Fatalf("rollbacks %q %q", in.Plan.Stages[2].Rollback, in.Plan.Stages[1].Rollback)
	}
	for i, s := range in.Plan.Stages {
		if i != 1 && i != 2 && s.Rollback != "" {
			t.Errorf("%s has a rollback activity %q", s.Name, s.Rollback)
		}
	}
}

func pick(b bool, c byte) byte {
	if b {
		return c
	}
	return '-'
}

// sortedWithinStage sorts runs of ids that share stage, kind and round,
// i.e. the siblings of one parallel pass, which start in any order.
func sortedWithinStage(ids []string) []string {
	out := append([]string(nil), ids...)
	pass := func(id string) string {
		p, err := ParseActivityID(id)
		if err != nil {
			return id
		}
		return fmt.Sprintf("%d-%s-%d", p.Stage, p.Kind, p.Round)
	}
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && pass(out[j]) == pass(out[i]) {
			j++
		}
		sort.Strings(out[i:j])
		i = j
	}
	return out
}

func TestCancelDuringRollbackThenRollbackAgain(t *testing.T) {
	slowStop := "3-rollback-2-" + agent2.String()
	env, f := newEnv(t, scenario{
		fail:  map[string]error{"5-run-1-" + master: nonRetryable("MySQL.Error", "MySQL error: table exists")},
		delay: map[string]time.Duration{slowStop: 10 * time.Minute},
	})
	rollback := operate(env, time.Hour, obcluster.OperatorRollback.String())
	cancel := operate(env, time.Hour+time.Minute, obcluster.OperatorCancel.String())
	var after DagStatus
	env.RegisterDelayedCallback(func() { after = status(t, env) }, time.Hour+2*time.Minute)
	again := operate(env, 2*time.Hour, obcluster.OperatorRollback.String())
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	wantAccepted(t, "ROLLBACK", rollback)
	wantAccepted(t, "CANCEL during the rollback", cancel)
	if after != (DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorCancel, Stage: 3, MaxStage: 11}) {
		t.Fatalf("after CANCEL: %+v", after)
	}
	wantAccepted(t, "second ROLLBACK", again)
	if r := result(t, env); r.State != obcluster.StateSucceed || r.Operator != obcluster.OperatorRollback || r.Stage != 1 {
		t.Fatalf("result %+v", r)
	}
	// The compensations that succeeded are not repeated; the cancelled one is.
	var stops []string
	for _, c := range f.callsOf(activities.StopObserverName) {
		stops = append(stops, c.ID.String())
	}
	sort.Strings(stops)
	want := []string{"3-rollback-2-" + agent1.String(), slowStop, "3-rollback-2-" + agent3.String(), "3-rollback-3-" + agent2.String()}
	sort.Strings(want)
	if !reflect.DeepEqual(stops, want) {
		t.Fatalf("Stop observer runs %q, want %q", stops, want)
	}
}
