package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/internal/obcluster"
)

// The DAG engine's metrics (README, Metrics). They go through
// workflow.GetMetricsHandler, which emits nothing while a workflow task
// replays history, so a worker that takes over a running DAG does not
// count its start or its finished stages again; durations come from
// workflow.Now, the history's clock. The worker's handler adds the tags
// namespace, task_queue and workflow_type (the DAG's name).
const (
	// MetricDagStarted counts DAG workflows started.
	MetricDagStarted = "obflow_dag_started_total"
	// MetricDagFinished counts DAG workflows that closed, tagged with the
	// final state (SUCCEED, FAILED) and operator (RUN, ROLLBACK, PASS,
	// CANCEL).
	MetricDagFinished = "obflow_dag_finished_total"
	// MetricDagDuration is a DAG's time from start to close, same tags.
	MetricDagDuration = "obflow_dag_duration_seconds"
	// MetricStageDuration is one execution of a stage: from the workflow
	// task that schedules its sub-tasks to the one that sees the last of
	// them finish, tagged stage (its name), kind (run, rollback) and state
	// (SUCCEED, FAILED). A RETRY's rollback of the failed sub-tasks counts
	// in the run. Per-attempt activity times are the SDK's
	// temporal_activity_execution_latency_seconds.
	MetricStageDuration = "obflow_dag_stage_duration_seconds"
)

func metricDagStarted(ctx workflow.Context) {
	workflow.GetMetricsHandler(ctx).Counter(MetricDagStarted).Inc(1)
}

func metricDagFinished(ctx workflow.Context, begin time.Time, res DagResult) {
	h := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		"state": res.State.String(), "operator": res.Operator.String(),
	})
	h.Counter(MetricDagFinished).Inc(1)
	h.Timer(MetricDagDuration).Record(workflow.Now(ctx).Sub(begin))
}

func metricStage(ctx workflow.Context, name string, kind Kind, begin time.Time, ok bool) {
	state := obcluster.StateSucceed
	if !ok {
		state = obcluster.StateFailed
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		"stage": name, "kind": string(kind), "state": state.String(),
	}).Timer(MetricStageDuration).Record(workflow.Now(ctx).Sub(begin))
}

// runStageMetered is runStage with its duration recorded. Not a defer in
// runStage: evicting a workflow from the worker's cache unwinds its
// coroutines, which runs their deferred calls.
func (e *engine) runStageMetered(ctx workflow.Context, s int) bool {
	begin := workflow.Now(ctx)
	ok := e.runStage(ctx, s)
	metricStage(ctx, e.plan.Stages[s-1].Name, KindRun, begin, ok)
	return ok
}
