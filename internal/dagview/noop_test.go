package dagview

import (
	"github.com/obflow/obflow/internal/obcluster"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	updatepb "go.temporal.io/api/update/v1"

	"github.com/obflow/obflow/workflows"
)

// TestRolledBackCountsNoopRollback: Integrate config has no rollback
// activity, yet obshell runs its no-op Rollback() during ROLLBACK and
// counts it, so the view shows it rolled back with a second execution.
func TestRolledBackCountsNoopRollback(t *testing.T) {
	d := translate(t, "init-rolled-back").Dag
	for _, i := range []int{0, 4} { // Integrate config (ran), Migrate table (never ran)
		n := d.Nodes[i]
		want := map[int]struct {
			state obcluster.State
			op    obcluster.Operator
			times int
		}{0: {obcluster.StateSucceed, obcluster.OperatorRollback, 2}, 4: {obcluster.StatePending, obcluster.OperatorRun, 0}}[i]
		s := n.SubTasks[0]
		if s.State != want.state || s.Operator != want.op || s.ExecuteTimes != want.times || n.Operator != want.op {
			t.Errorf("%s: sub-task %s/%s %d executions, node operator %s; want %s/%s %d", n.Name, s.State, s.Operator, s.ExecuteTimes, n.Operator, want.state, want.op, want.times)
		}
	}
}

// TestRetryCountsNoopRollback: RETRY rolls back the failed sub-tasks of the
// failed stage first; for a stage without a rollback activity that is a
// no-op that still counts, and sub-tasks that succeeded are left alone.
func TestRetryCountsNoopRollback(t *testing.T) {
	a := obcluster.Agent{IP: "127.0.0.2", Port: 2886}
	b := obcluster.Agent{IP: "127.0.0.3", Port: 2886}
	stage := func(rollback string) workflows.Stage {
		return workflows.Stage{Name: "s", Rollback: rollback, Targets: []workflows.Target{workflows.HostTarget(a), workflows.HostTarget(b)}}
	}
	retry := &historypb.HistoryEvent{
		EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionUpdateAcceptedEventAttributes{
			WorkflowExecutionUpdateAcceptedEventAttributes: &historypb.WorkflowExecutionUpdateAcceptedEventAttributes{
				AcceptedRequest: &updatepb.Request{Input: &updatepb.Input{Name: obcluster.OperatorRetry.String()}},
			},
		},
	}
	for _, c := range []struct {
		rollback  string
		wantTimes [2]int
	}{{"", [2]int{2, 1}}, {"Undo", [2]int{1, 1}}} {
		at := time.Unix(100, 0)
		tr := &translator{
			plan:   workflows.Plan{Stages: []workflows.Stage{stage(c.rollback)}},
			status: workflows.DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorRun, Stage: 1},
			subs: [][]*sub{{
				{execs: []*execution{{id: workflows.ActivityID{Stage: 1, Kind: workflows.KindRun, Round: 1, Agent: a}, closed: at, attempt: 1, failed: true}}},
				{execs: []*execution{{id: workflows.ActivityID{Stage: 1, Kind: workflows.KindRun, Round: 1, Agent: b}, closed: at, attempt: 1}}},
			}},
		}
		tr.event(retry)
		for j, s := range tr.subs[0] {
			times := 0
			for _, e := range s.execs {
				times += int(max(e.attempt, 1))
			}
			if times != c.wantTimes[j] {
				t.Errorf("rollback %q, sub-task %d: %d executions, want %d", c.rollback, j, times, c.wantTimes[j])
			}
		}
		if st, op := tr.subs[0][0].state(); c.rollback == "" && (st != obcluster.StateSucceed || op != obcluster.OperatorRollback) {
			t.Errorf("failed sub-task after RETRY's no-op rollback: %s/%s", st, op)
		}
	}
}
