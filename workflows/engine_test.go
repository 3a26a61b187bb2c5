package workflows

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/taskqueue"
)

func TestActivityIDRoundTrip(t *testing.T) {
	for _, id := range []ActivityID{
		{Stage: 3, Kind: KindRun, Round: 1, Agent: agent2},
		{Stage: 12, Kind: KindRollback, Round: 7, Agent: obcluster.Agent{IP: "::1", Port: 2886}},
	} {
		s := id.String()
		got, err := ParseActivityID(s)
		if err != nil || got != id {
			t.Errorf("ParseActivityID(%q) = %+v, %v; want %+v", s, got, err, id)
		}
	}
	if s := (ActivityID{Stage: 3, Kind: KindRun, Round: 1, Agent: agent2}).String(); s != "3-run-1-127.0.2.2:2886" {
		t.Errorf("id %q", s)
	}
	if s := (ActivityID{Stage: 2, Kind: KindRollback, Round: 2, Agent: obcluster.Agent{IP: "fe80::1", Port: 2886}}).String(); s != "2-rollback-2-[fe80::1]:2886" {
		t.Errorf("id %q", s)
	}
	for _, bad := range []string{"", "3", "3-run-1", "0-run-1-127.0.2.1:2886", "3-walk-1-127.0.2.1:2886",
		"3-run-0-127.0.2.1:2886", "3-run-1-127.0.2.1", "3-run-1-host:2886", "3-run-1-127.0.2.1:0", "x-run-1-127.0.2.1:1",
		"3-run-1-127.0.2.1:99999", "3-run-1-[::1:2886"} {
		if id, err := ParseActivityID(bad); err == nil {
			t.Errorf("ParseActivityID(%q) = %+v, want an error", bad, id)
		}
	}
}

func TestActivityOptionsAndSummaries(t *testing.T) {
	in := testInput(t, testTopology(), PlanOptions{Defaults: ActivityOptions{ScheduleToStart: 2 * time.Second, MaximumAttempts: 2}})
	e := &engine{plan: in.Plan}
	host := HostTarget(agent2)
	o := e.activityOptions(3, KindRun, host, ActivityID{Stage: 3, Kind: KindRun, Round: 1, Agent: agent2})
	if o.ActivityID != "3-run-1-127.0.2.2:2886" || o.Summary != "Stage 3/11 Start observer on 127.0.2.2:2886" {
		t.Fatalf("id %q summary %q", o.ActivityID, o.Summary)
	}
	if o.TaskQueue != taskqueue.Host("127.0.2.2:2886") || o.ScheduleToStartTimeout != 2*time.Second ||
		o.HeartbeatTimeout != 10*time.Second || o.StartToCloseTimeout != 15*time.Minute || !o.WaitForCancellation {
		t.Fatalf("options %+v", o)
	}
	if o.RetryPolicy.MaximumAttempts != 2 || o.RetryPolicy.InitialInterval != time.Second {
		t.Fatalf("retry %+v", o.RetryPolicy)
	}
	for _, code := range []string{"Common.DirNotEmpty", "OB.User.Password.Error", "Common.Unexpected"} {
		if !contains(o.RetryPolicy.NonRetryableErrorTypes, code) {
			t.Errorf("%s is retried", code)
		}
	}
	rb := e.activityOptions(3, KindRollback, host, ActivityID{Stage: 3, Kind: KindRollback, Round: 2, Agent: agent2})
	if rb.Summary != "Stage 3/11 Rollback Start observer on 127.0.2.2:2886 (Stop observer), round 2" {
		t.Fatalf("rollback summary %q", rb.Summary)
	}
	boot := e.activityOptions(4, KindRun, CoordinatorTarget(agent1), ActivityID{Stage: 4, Kind: KindRun, Round: 1, Agent: agent1})
	if boot.TaskQueue != taskqueue.Coordinator || boot.ScheduleToStartTimeout != 0 || boot.HeartbeatTimeout != 10*time.Second {
		t.Fatalf("bootstrap options %+v", boot)
	}
	mig := e.activityOptions(5, KindRun, CoordinatorTarget(agent1), ActivityID{Stage: 5, Kind: KindRun, Round: 1, Agent: agent1})
	if mig.HeartbeatTimeout != 0 || mig.StartToCloseTimeout != time.Hour {
		t.Fatalf("Migrate table options %+v", mig)
	}
	for _, s := range []string{o.Summary, rb.Summary, boot.Summary, o.ActivityID} {
		if strings.Contains(s, testRootPassword) {
			t.Fatalf("password in %q", s)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestPlanValidate(t *testing.T) {
	good := testInput(t, testTopology(), PlanOptions{}).Plan
	for name, mutate := range map[string]func(*Plan){
		"no name":         func(p *Plan) { p.DagName = "" },
		"no owner":        func(p *Plan) { p.Owner = obcluster.Agent{} },
		"no stages":       func(p *Plan) { p.Stages = nil },
		"unnamed stage":   func(p *Plan) { p.Stages[0].Name = "" },
		"no targets":      func(p *Plan) { p.Stages[1].Targets = nil },
		"serial with two": func(p *Plan) { p.Stages[0].Targets = p.Stages[1].Targets },
		"target no queue": func(p *Plan) { p.Stages[1].Targets[0].Queue = "" },
		"target twice":    func(p *Plan) { p.Stages[1].Targets[1] = p.Stages[1].Targets[0] },
	} {
		p := testInput(t, testTopology(), PlanOptions{}).Plan
		mutate(&p)
		if err := p.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}

// testDAG runs any plan whose activities take a ClusterInput: the engine
// without the init workflow's data flow.
func testDAG(ctx workflow.Context, plan Plan) (DagResult, error) {
	return RunDAG(ctx, plan, clusterInputs{})
}

type clusterInputs struct{}

func (clusterInputs) Input(string, int, Target) (any, error) { return activities.ClusterInput{}, nil }
func (clusterInputs) Completed(workflow.Context, string, int, Target, workflow.Future) error {
	return nil
}

func smallPlan(flags ...Flags) Plan {
	names := []string{activities.MigrateTableName, activities.MigrateDataName, activities.ConvertMasterName}
	p := Plan{DagName: "test DAG", DagID: 1, Owner: agent1, MaintenanceType: obcluster.MaintenanceGlobal}
	for i, f := range flags {
		p.Stages = append(p.Stages, Stage{Name: names[i], Targets: []Target{CoordinatorTarget(agent1)}, Flags: f})
	}
	return p
}

func TestPassWholeDag(t *testing.T) {
	all := Flags{CanCancel: true, CanRetry: true, CanRollback: true, CanPass: true}
	env, f := newEnv(t, scenario{fail: map[string]error{"2-run-1-" + master: nonRetryable("MySQL.Error", "no")}})
	pass := operate(env, time.Hour, obcluster.OperatorPass.String())
	env.ExecuteWorkflow("test DAG", smallPlan(all, all, all))
	wantAccepted(t, "PASS", pass)
	if r := result(t, env); r != (DagResult{DagStatus: DagStatus{State: obcluster.StateSucceed, Operator: obcluster.OperatorPass, Stage: 2, MaxStage: 3}}) {
		t.Fatalf("result %+v", r)
	}
	if ids := f.ids(); len(ids) != 2 {
		t.Fatalf("ran %q after PASS", ids)
	}
}

func TestRetryRefusedWhereTheNodeCannotRetry(t *testing.T) {
	noRetry := Flags{CanCancel: true}
	env, _ := newEnv(t, scenario{fail: map[string]error{"1-run-1-" + master: nonRetryable("MySQL.Error", "no")}})
	retry := operate(env, time.Hour, obcluster.OperatorRetry.String())
	p := smallPlan(noRetry)
	p.FailedDagTTL = 2 * time.Hour
	env.ExecuteWorkflow("test DAG", p)
	wantRejected(t, "RETRY", retry, "Task.Dag.Operator.RetryNotAllowed", "Failed to set DAG retry: node Migrate table cannot retry")
	if r := result(t, env); !r.Expired {
		t.Fatalf("result %+v", r)
	}
}

func TestInvalidPlanFailsTheWorkflow(t *testing.T) {
	env, _ := newEnv(t, scenario{})
	env.ExecuteWorkflow("test DAG", Plan{DagName: "x"})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "no owner") {
		t.Fatalf("workflow error %v", err)
	}
}
