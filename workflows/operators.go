package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/internal/obcluster"
)

// registerHandlers installs obshell's operators as Updates. Each validator
// applies CONTRACT.md §6.4's rules and rejects with its errCode; each handler
// changes the DAG's state at once and returns, and the main loop acts on
// it (obshell's POST /task/dag/:id also returns once the DB row changed).
func (e *engine) registerHandlers(ctx workflow.Context) error {
	noArg := map[obcluster.Operator]struct {
		validate func() error
		apply    func(workflow.Context)
	}{
		obcluster.OperatorRetry:    {e.validateRetry, e.applyRetry},
		obcluster.OperatorRollback: {e.validateRollback, e.applyRollback},
		obcluster.OperatorCancel:   {e.validateCancel, e.applyCancel},
		obcluster.OperatorPass:     {e.validatePass, e.applyPass},
	}
	for _, name := range []obcluster.Operator{obcluster.OperatorRetry, obcluster.OperatorRollback, obcluster.OperatorCancel, obcluster.OperatorPass} {
		op := noArg[name]
		err := workflow.SetUpdateHandlerWithOptions(ctx, name.String(),
			func(ctx workflow.Context) (DagStatus, error) {
				op.apply(ctx)
				return e.status, nil
			},
			workflow.UpdateHandlerOptions{
				Validator:   func(workflow.Context) error { return op.validate() },
				Description: "obshell operator " + name.String() + " on the DAG",
			})
		if err != nil {
			return err
		}
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdatePassNode,
		func(ctx workflow.Context, stage int) (DagStatus, error) {
			e.applyPassNode(ctx, stage)
			return e.status, nil
		},
		workflow.UpdateHandlerOptions{
			Validator:   func(_ workflow.Context, stage int) error { return e.validatePassNode(stage) },
			Description: "obshell PASS of one failed node (argument: its 1-based stage)",
		})
	if err != nil {
		return err
	}
	return workflow.SetQueryHandler(ctx, QueryStatus, func() (DagStatus, error) { return e.status, nil })
}

func (e *engine) stageName(s int) string { return e.plan.Stages[s-1].Name }

func (e *engine) validateRetry() error {
	if e.status.State != obcluster.StateFailed {
		return operatorError(ErrCodeRetryNotFailedDag, "Failed to set DAG retry: DAG state is not failed")
	}
	if s := e.status.Stage; !e.plan.Stages[s-1].Flags.CanRetry {
		return operatorError(ErrCodeRetryNotAllowed, "Failed to set DAG retry: node %s cannot retry", e.stageName(s))
	}
	return nil
}

// applyRetry: obshell sets the DAG to READY/RUN and the node to RETRY; the
// stage's failed sub-tasks are rolled back, then run again.
func (e *engine) applyRetry(ctx workflow.Context) {
	e.status.State = obcluster.StateRunning
	e.status.Operator = obcluster.OperatorRun
	e.upsert(ctx)
}

func (e *engine) validateRollback() error {
	if e.status.State != obcluster.StateFailed {
		return operatorError(ErrCodeRollbackNotFailedDag, "Failed to set DAG rollback: DAG state is not failed")
	}
	for s := 1; s <= e.status.Stage; s++ {
		if !e.plan.Stages[s-1].Flags.CanRollback {
			return operatorError(ErrCodeRollbackNotAllowed, "Failed to set DAG rollback: node %s cannot rollback", e.stageName(s))
		}
	}
	return nil
}

func (e *engine) applyRollback(ctx workflow.Context) {
	e.status.State = obcluster.StateRunning
	e.status.Operator = obcluster.OperatorRollback
	e.upsert(ctx)
}

// cancelAllowed applies CANCEL's node rule: every node from 1 up to and
// including the first unfinished one can cancel. During a rollback every
// node is pending again, so the first unfinished node is node 1.
func (e *engine) cancelAllowed() error {
	last := e.status.Stage
	if e.status.Operator == obcluster.OperatorRollback {
		last = 1
	}
	for s := 1; s <= last; s++ {
		if !e.plan.Stages[s-1].Flags.CanCancel {
			return operatorError(ErrCodeCancelNotAllowed, "Failed to cancel DAG: node %s cannot cancel", e.stageName(s))
		}
	}
	return nil
}

func (e *engine) validateCancel() error {
	if e.status.State == obcluster.StateFailed || e.status.State == obcluster.StateSucceed {
		return operatorError(ErrCodeCancelFinishedDag, "Failed to cancel DAG: DAG is finished")
	}
	return e.cancelAllowed()
}

// applyCancel interrupts the running stage: its activities' contexts are
// cancelled and the stage waits for them; the DAG then ends FAILED/CANCEL.
func (e *engine) applyCancel(ctx workflow.Context) {
	e.stopRequested = true
	e.status.Operator = obcluster.OperatorCancel
	if e.cancelStage != nil {
		e.cancelStage()
	}
	e.upsert(ctx)
}

// onTemporalCancel maps `temporal workflow cancel` onto CANCEL where obshell
// would allow it. Where it would not (a stage that cannot cancel is
// running), the DAG runs on; if it then fails, the workflow closes instead
// of waiting for an operator. A FAILED DAG closes at once.
func (e *engine) onTemporalCancel(ctx workflow.Context) {
	workflow.GetLogger(ctx).Info("workflow cancellation requested", "state", e.status.State, "stage", e.status.Stage)
	e.temporalCancel = true
	if e.status.State == obcluster.StateRunning && e.cancelAllowed() == nil && !e.stopRequested {
		e.applyCancel(ctx)
	}
}

func (e *engine) validatePass() error {
	if e.status.State != obcluster.StateFailed {
		return operatorError(ErrCodePassNotFailedDag, "Failed to pass DAG: DAG is not failed")
	}
	for s := 1; s <= e.plan.MaxStage(); s++ {
		if e.nodes[s-1].state != obcluster.StateSucceed && !e.plan.Stages[s-1].Flags.CanPass {
			return operatorError(ErrCodePassNotAllowed, "Failed to pass DAG: node %s cannot pass", e.stageName(s))
		}
	}
	return nil
}

// applyPass: every non-succeeded node and sub-task becomes SUCCEED/PASS and
// the DAG ends SUCCEED/PASS.
func (e *engine) applyPass(ctx workflow.Context) {
	for i := range e.nodes {
		e.passNode(i + 1)
	}
	e.status.State = obcluster.StateSucceed
	e.status.Operator = obcluster.OperatorPass
	e.upsert(ctx)
}

func (e *engine) validatePassNode(stage int) error {
	if stage < 1 || stage > e.plan.MaxStage() {
		return operatorError(ErrCodeTaskNotFound, "Task not found: node %d does not exist", stage)
	}
	if e.status.State != obcluster.StateFailed {
		return operatorError(ErrCodeNodePassNotFailedDag, "Failed to pass node: DAG is not failed")
	}
	if e.nodes[stage-1].state != obcluster.StateFailed {
		return operatorError(ErrCodeNodePassNotFailedNode, "Failed to pass node: node %s is not failed", e.stageName(stage))
	}
	if !e.plan.Stages[stage-1].Flags.CanPass {
		return operatorError(ErrCodeNodePassNotAllowed, "Failed to pass node: node %s cannot pass", e.stageName(stage))
	}
	return nil
}

// applyPassNode: the node becomes SUCCEED/PASS and the DAG goes on (READY/RUN)
// with the next node.
func (e *engine) applyPassNode(ctx workflow.Context, stage int) {
	e.passNode(stage)
	e.status.State = obcluster.StateRunning
	e.status.Operator = obcluster.OperatorRun
	e.upsert(ctx)
}

func (e *engine) passNode(stage int) {
	n := &e.nodes[stage-1]
	n.state = obcluster.StateSucceed
	for i := range n.subs {
		if n.subs[i].state != obcluster.StateSucceed {
			n.subs[i].state = obcluster.StateSucceed
		}
	}
}
