package workflows

import (
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/searchattr"
	"github.com/obflow/obflow/internal/taskqueue"
)

// Driver is the DAG-specific part of a workflow: what each activity gets
// and what the workflow keeps from the results. Both methods run in
// workflow code and must be deterministic.
type Driver interface {
	// Input returns the input of activityType (a stage's run or rollback
	// activity) for the sub-task of stage (1-based) on target. An error
	// fails the sub-task with Common.Unexpected.
	Input(activityType string, stage int, target Target) (any, error)
	// Completed is called with the future of every run that succeeded, in
	// target order, to read its result. An error fails the sub-task with
	// Common.Unexpected.
	Completed(ctx workflow.Context, activityType string, stage int, target Target, result workflow.Future) error
}

// subTask is the engine's view of one sub-task.
type subTask struct {
	state    obcluster.State // PENDING, RUNNING, SUCCEED or FAILED
	executed bool            // a run was scheduled and not rolled back since
}

// node is the engine's view of one stage.
type node struct {
	state obcluster.State
	round int // last round used in activity ids
	subs  []subTask
}

// engine runs one Plan. Its fields are only touched by workflow coroutines
// (the main loop and the Update handlers), which never run concurrently.
type engine struct {
	plan   Plan
	driver Driver
	status DagStatus
	nodes  []node

	// stopRequested is set when CANCEL was accepted (by Update or by a
	// Temporal cancellation) and cleared once the DAG is FAILED/CANCEL.
	stopRequested bool
	// cancelStage interrupts the running stage's activities.
	cancelStage workflow.CancelFunc
	// temporalCancel: the workflow itself was asked to cancel; the
	// workflow closes instead of waiting for an operator.
	temporalCancel bool
}

// RunDAG runs plan to its end and returns the DAG's final status. It is the
// body of every DAG workflow: it registers the operator Updates (RETRY,
// ROLLBACK, CANCEL, PASS, PASS_NODE) and the status query, upserts the
// search attributes at every transition, and waits for an operator when a
// stage fails. See HISTORY.md for what it leaves in history.
func RunDAG(ctx workflow.Context, plan Plan, driver Driver) (DagResult, error) {
	if err := plan.Validate(); err != nil {
		return DagResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "Common.IllegalArgument", nil)
	}
	e := &engine{plan: plan, driver: driver}
	e.nodes = make([]node, len(plan.Stages))
	for i, s := range plan.Stages {
		e.nodes[i] = node{state: obcluster.StatePending, subs: make([]subTask, len(s.Targets))}
		for j := range e.nodes[i].subs {
			e.nodes[i].subs[j].state = obcluster.StatePending
		}
	}
	e.status = DagStatus{State: obcluster.StateRunning, Operator: obcluster.OperatorRun, Stage: 1, MaxStage: plan.MaxStage()}

	// The engine works on a context that Temporal's cancellation does not
	// reach, and maps that cancellation onto obshell's CANCEL itself.
	root := ctx
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if err := e.registerHandlers(ctx); err != nil {
		return DagResult{}, err
	}
	workflow.Go(ctx, func(gctx workflow.Context) {
		root.Done().Receive(gctx, nil)
		e.onTemporalCancel(gctx)
	})

	if err := workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.DagName.ValueSet(plan.DagName),
		searchattr.DagID.ValueSet(plan.DagID),
		searchattr.Cluster.ValueSet(plan.Cluster),
		searchattr.Agent.ValueSet(plan.Owner.String()),
		searchattr.DagState.ValueSet(e.status.State.String()),
		searchattr.DagOperator.ValueSet(e.status.Operator.String()),
		searchattr.DagStage.ValueSet(int64(e.status.Stage)),
	); err != nil {
		return DagResult{}, fmt.Errorf("upsert search attributes: %w", err)
	}

	begin := workflow.Now(ctx)
	metricDagStarted(ctx)
	res := e.loop(ctx)
	// Handlers return as soon as an operator is accepted; waiting here only
	// lets one that arrived in the last workflow task finish cleanly.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	metricDagFinished(ctx, begin, res)
	if e.temporalCancel && res.State != obcluster.StateSucceed {
		return res, temporal.NewCanceledError(res)
	}
	return res, nil
}

// loop drives the DAG forward or backward until it ends.
func (e *engine) loop(ctx workflow.Context) DagResult {
	logger := workflow.GetLogger(ctx)
	for {
		var ok bool
		if e.status.Operator == obcluster.OperatorRollback {
			ok = e.rollbackAll(ctx)
		} else {
			ok = e.forward(ctx)
		}
		if ok {
			e.status.State = obcluster.StateSucceed
			e.upsert(ctx)
			return DagResult{DagStatus: e.status}
		}

		e.status.State = obcluster.StateFailed
		if e.stopRequested {
			e.status.Operator = obcluster.OperatorCancel
			e.stopRequested = false
		}
		e.upsert(ctx)
		logger.Info("DAG failed, waiting for an operator", "stage", e.status.Stage, "operator", e.status.Operator)
		if e.temporalCancel {
			return DagResult{DagStatus: e.status}
		}

		ttl := e.plan.FailedDagTTL
		if ttl <= 0 {
			ttl = DefaultFailedDagTTL
		}
		accepted, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      ttl,
			TimerOptions: workflow.TimerOptions{Summary: "FAILED DAG waits for an operator"},
		}, func() bool { return e.status.State != obcluster.StateFailed || e.temporalCancel })
		if err != nil || !accepted {
			logger.Warn("FAILED DAG expired without an operator", "ttl", ttl)
			return DagResult{DagStatus: e.status, Expired: true}
		}
		if e.status.State == obcluster.StateFailed { // the workflow was cancelled
			return DagResult{DagStatus: e.status}
		}
		if e.status.State == obcluster.StateSucceed { // PASS
			return DagResult{DagStatus: e.status}
		}
	}
}

// forward runs stages from the current one to the last; false if one failed
// or the DAG was cancelled.
func (e *engine) forward(ctx workflow.Context) bool {
	for {
		s := e.status.Stage
		if e.nodes[s-1].state != obcluster.StateSucceed {
			if e.stopRequested || !e.runStageMetered(ctx, s) {
				return false
			}
		}
		if s == e.plan.MaxStage() {
			return true
		}
		e.status.Stage = s + 1
		e.upsert(ctx)
	}
}

// runStage runs stage s: first the rollback of sub-tasks a previous round
// left FAILED (RETRY), then every sub-task that has not succeeded.
func (e *engine) runStage(ctx workflow.Context, s int) bool {
	n := &e.nodes[s-1]
	st := &e.plan.Stages[s-1]
	stageCtx, cancel := workflow.WithCancel(ctx)
	e.cancelStage = cancel
	defer func() { cancel(); e.cancelStage = nil }()
	n.state = obcluster.StateRunning

	var failed, todo []int
	for i, sub := range n.subs {
		if sub.state == obcluster.StateFailed && sub.executed {
			failed = append(failed, i)
		}
		if sub.state != obcluster.StateSucceed {
			todo = append(todo, i)
		}
	}
	if len(failed) > 0 && st.Rollback != "" {
		n.round++
		if !e.execute(stageCtx, s, KindRollback, n.round, failed) {
			n.state = obcluster.StateFailed
			return false
		}
	}
	if e.stopRequested {
		n.state = obcluster.StateFailed
		return false
	}
	n.round++
	if !e.execute(stageCtx, s, KindRun, n.round, todo) {
		n.state = obcluster.StateFailed
		return false
	}
	n.state = obcluster.StateSucceed
	return true
}

// rollbackAll compensates every executed stage from the current one down to
// stage 1; false if a compensation failed or the DAG was cancelled.
func (e *engine) rollbackAll(ctx workflow.Context) bool {
	for {
		s := e.status.Stage
		if !e.rollbackStage(ctx, s) {
			return false
		}
		if s == 1 {
			return true
		}
		if e.stopRequested {
			return false
		}
		e.status.Stage = s - 1
		e.upsert(ctx)
	}
}

// rollbackStage runs stage s's compensation on every sub-task that ran.
// Stages without a rollback activity are obshell's no-op rollbacks.
func (e *engine) rollbackStage(ctx workflow.Context, s int) bool {
	n := &e.nodes[s-1]
	st := &e.plan.Stages[s-1]
	var executed []int
	for i, sub := range n.subs {
		if sub.executed {
			executed = append(executed, i)
		}
	}
	if len(executed) > 0 && st.Rollback != "" {
		stageCtx, cancel := workflow.WithCancel(ctx)
		e.cancelStage = cancel
		n.state = obcluster.StateRunning
		n.round++
		begin := workflow.Now(ctx)
		ok := e.execute(stageCtx, s, KindRollback, n.round, executed)
		metricStage(ctx, st.Name, KindRollback, begin, ok)
		cancel()
		e.cancelStage = nil
		if !ok {
			n.state = obcluster.StateFailed
			return false
		}
	}
	// Undone: a later RETRY or forward run starts this stage afresh.
	n.state = obcluster.StatePending
	for i := range n.subs {
		n.subs[i] = subTask{state: obcluster.StatePending}
	}
	return true
}

// execute runs one activity per listed target of stage s, in parallel, and
// waits for all of them: a stage fails only after every sibling finished.
func (e *engine) execute(ctx workflow.Context, s int, kind Kind, round int, targets []int) bool {
	st := &e.plan.Stages[s-1]
	activityType := st.ActivityType()
	if kind == KindRollback {
		activityType = st.Rollback
	}
	type running struct {
		i      int
		id     ActivityID
		future workflow.Future
	}
	var started []running
	ok := true
	for _, i := range targets {
		t := st.Targets[i]
		id := ActivityID{Stage: s, Kind: kind, Round: round, Agent: t.Agent}
		sub := &e.nodes[s-1].subs[i]
		sub.state = obcluster.StateRunning
		if kind == KindRun {
			sub.executed = true
		}
		in, err := e.driver.Input(activityType, s, t)
		if err != nil {
			e.recordFailure(ctx, SubTaskFailure{ActivityID: id.String(), ErrCode: ErrCodeUnexpected, Message: err.Error()})
			sub.state = obcluster.StateFailed
			ok = false
			continue
		}
		actx := workflow.WithActivityOptions(ctx, e.activityOptions(s, kind, t, id))
		started = append(started, running{i: i, id: id, future: workflow.ExecuteActivity(actx, activityType, in)})
	}
	for _, r := range started {
		sub := &e.nodes[s-1].subs[r.i]
		t := st.Targets[r.i]
		err := r.future.Get(ctx, nil)
		if err == nil && kind == KindRun {
			if cerr := e.driver.Completed(ctx, activityType, s, t, r.future); cerr != nil {
				e.recordFailure(ctx, SubTaskFailure{ActivityID: r.id.String(), ErrCode: ErrCodeUnexpected, Message: cerr.Error()})
				err = cerr
			}
		} else if err != nil {
			e.explainFailure(ctx, r.id, t, err)
		}
		if err != nil {
			sub.state = obcluster.StateFailed
			ok = false
			continue
		}
		sub.state = obcluster.StateSucceed
		if kind == KindRollback {
			sub.executed = false
		}
	}
	return ok
}

// explainFailure records a SubTaskFailure when the activity's own failure
// does not carry an obshell errCode: timeouts (the agent is unreachable or
// the sub-task took too long) and errors that are not ApplicationErrors
// typed with an obshell code. Cancellations need no record: the
// ActivityTaskCanceled event says it.
func (e *engine) explainFailure(ctx workflow.Context, id ActivityID, t Target, err error) {
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		return
	}
	o := e.plan.stageOptions(&e.plan.Stages[id.Stage-1])
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		f := SubTaskFailure{ActivityID: id.String(), ErrCode: ErrCodeExecuteTimeout, Message: "sub task timeout"}
		switch timeout.TimeoutType() {
		case enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START:
			f.ErrCode = ErrCodeAgentUnreachable
			f.Message = fmt.Sprintf("agent %s unreachable: no worker took the sub-task from task queue %s within %s", t.Agent, t.Queue, o.ScheduleToStart)
		case enumspb.TIMEOUT_TYPE_HEARTBEAT:
			f.ErrCode = ErrCodeAgentUnreachable
			f.Message = fmt.Sprintf("agent %s unreachable: no heartbeat within %s", t.Agent, o.Heartbeat)
		}
		e.recordFailure(ctx, f)
		return
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && isErrCode(app.Type()) {
		return
	}
	e.recordFailure(ctx, SubTaskFailure{ActivityID: id.String(), ErrCode: ErrCodeUnexpected, Message: err.Error()})
}

// isErrCode tells obshell errCodes ("OB.User.Password.Error") from the Go
// type names the SDK gives to plain errors ("*errors.errorString").
func isErrCode(t string) bool {
	return t != "" && strings.Contains(t, ".") && !strings.ContainsAny(t, "*/ ")
}

// recordFailure puts f in history as a SideEffect marker.
func (e *engine) recordFailure(ctx workflow.Context, f SubTaskFailure) {
	workflow.GetLogger(ctx).Warn("sub-task failed", "activityId", f.ActivityID, "errCode", f.ErrCode, "message", f.Message)
	v := workflow.SideEffectWithOptions(ctx, workflow.SideEffectOptions{Summary: "sub-task " + f.ActivityID + " failed"},
		func(workflow.Context) any { return f })
	var recorded SubTaskFailure
	_ = v.Get(&recorded)
}

// activityOptions builds the Temporal options of one sub-task execution.
func (e *engine) activityOptions(s int, kind Kind, t Target, id ActivityID) workflow.ActivityOptions {
	st := &e.plan.Stages[s-1]
	o := e.plan.stageOptions(st)
	summary := fmt.Sprintf("Stage %d/%d %s on %s", s, e.plan.MaxStage(), st.Name, t.Agent)
	if kind == KindRollback {
		summary = fmt.Sprintf("Stage %d/%d Rollback %s on %s (%s)", s, e.plan.MaxStage(), st.Name, t.Agent, st.Rollback)
	}
	if id.Round > 1 {
		summary += fmt.Sprintf(", round %d", id.Round)
	}
	ao := workflow.ActivityOptions{
		ActivityID:          id.String(),
		TaskQueue:           t.Queue,
		StartToCloseTimeout: o.StartToClose,
		HeartbeatTimeout:    o.Heartbeat,
		WaitForCancellation: true,
		Summary:             summary,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        o.InitialInterval,
			BackoffCoefficient:     o.BackoffCoefficient,
			MaximumInterval:        o.MaximumInterval,
			MaximumAttempts:        o.MaximumAttempts,
			NonRetryableErrorTypes: o.NonRetryable,
		},
	}
	if t.Queue != taskqueue.Coordinator {
		ao.ScheduleToStartTimeout = o.ScheduleToStart
	}
	return ao
}

// upsert publishes state, operator and stage.
func (e *engine) upsert(ctx workflow.Context) {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.DagState.ValueSet(e.status.State.String()),
		searchattr.DagOperator.ValueSet(e.status.Operator.String()),
		searchattr.DagStage.ValueSet(int64(e.status.Stage)),
	)
	if err != nil {
		workflow.GetLogger(ctx).Error("upsert search attributes", "error", err)
	}
}
