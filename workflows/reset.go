package workflows

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/searchattr"
)

// ResetPoint is the event a reset to stage (1-based) starts from: the
// WorkflowTaskCompleted event of the workflow task that scheduled the
// stage's first sub-task (its first run). Temporal resets only to the end
// of a workflow task, never to an activity's event ("this event must be at
// the boundary"); the new run replays the history before it and runs that
// workflow task again, which schedules the stage afresh. An error says the
// stage never ran.
func ResetPoint(events []*historypb.HistoryEvent, stage int) (int64, error) {
	for _, ev := range events {
		a := ev.GetActivityTaskScheduledEventAttributes()
		if a == nil {
			continue
		}
		id, err := ParseActivityID(a.GetActivityId())
		if err != nil || id.Stage != stage || id.Kind != KindRun {
			continue
		}
		if a.GetWorkflowTaskCompletedEventId() <= 0 {
			return 0, fmt.Errorf("activity %s (event %d) names no workflow task", id, ev.GetEventId())
		}
		return a.GetWorkflowTaskCompletedEventId(), nil
	}
	return 0, &ResetRefusedError{Reason: fmt.Sprintf("stage %d never ran", stage)}
}

// dagState is the DAG state the history's last search attribute upsert
// set (the start event's before any upsert).
func dagState(events []*historypb.HistoryEvent) obcluster.State {
	var state obcluster.State
	read := func(sa *commonpb.SearchAttributes) {
		p := sa.GetIndexedFields()[searchattr.DagState.GetName()]
		var s string
		if p != nil && converter.GetDefaultDataConverter().FromPayload(p, &s) == nil {
			if st, ok := obcluster.ParseState(s); ok {
				state = st
			}
		}
	}
	for _, ev := range events {
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			read(a.GetSearchAttributes())
		}
		if a := ev.GetUpsertWorkflowSearchAttributesEventAttributes(); a != nil {
			read(a.GetSearchAttributes())
		}
	}
	return state
}

// ResetRefusedError is why ResetDAG will not reset a DAG: it is not FAILED
// waiting for an operator, or the stage never ran.
type ResetRefusedError struct{ Reason string }

func (e *ResetRefusedError) Error() string { return e.Reason }

// ErrNoSuchDag is ResetDAG's error when no workflow has the DAG's id.
var ErrNoSuchDag = errors.New("no such DAG")

// ResetResult is a done reset.
type ResetResult struct {
	OldRunID, RunID string
	// EventID is the reset point (ResetPoint).
	EventID int64
}

// ResetDAG resets the workflow of the DAG with generic id gid in namespace
// (c's) to stage
// (1-based): a new run replays the history up to ResetPoint and runs the
// stage and those after it again (every activity is idempotent). Only a
// FAILED DAG waiting for an operator is reset: a running one would race
// its own workflow task, and a finished one has released its maintenance
// lock (another DAG may run on its agents). Nothing the old run received
// after the reset point (operators, signals, a cancel request) is applied
// to the new run: it runs from the stage as it ran the first time.
func ResetDAG(ctx context.Context, c client.Client, namespace, gid string, stage int, reason string) (ResetResult, error) {
	wid := WorkflowID(gid)
	d, err := c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return ResetResult{}, fmt.Errorf("DAG %s: %w", gid, ErrNoSuchDag)
		}
		return ResetResult{}, fmt.Errorf("describe %s: %w", wid, err)
	}
	info := d.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	var events []*historypb.HistoryEvent
	it := c.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return ResetResult{}, fmt.Errorf("read the history of %s: %w", wid, err)
		}
		events = append(events, ev)
	}
	state := dagState(events)
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return ResetResult{}, &ResetRefusedError{Reason: fmt.Sprintf(
			"DAG %s has finished (%s, workflow %s): its maintenance lock is released, so it cannot be reset", gid, state, info.GetStatus())}
	}
	if state != obcluster.StateFailed {
		return ResetResult{}, &ResetRefusedError{Reason: fmt.Sprintf(
			"DAG %s is %s: only a FAILED DAG waiting for an operator can be reset (cancel it first)", gid, state)}
	}
	point, err := ResetPoint(events, stage)
	if err != nil {
		var refused *ResetRefusedError
		if errors.As(err, &refused) {
			refused.Reason = fmt.Sprintf("DAG %s: %s", gid, refused.Reason)
		}
		return ResetResult{}, err
	}
	resp, err := c.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 namespace,
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: wid, RunId: runID},
		Reason:                    reason,
		WorkflowTaskFinishEventId: point,
		ResetReapplyExcludeTypes: []enumspb.ResetReapplyExcludeType{
			enumspb.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL,
			enumspb.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE,
			enumspb.RESET_REAPPLY_EXCLUDE_TYPE_CANCEL_REQUEST,
		},
	})
	if err != nil {
		return ResetResult{}, fmt.Errorf("reset %s to event %d: %w", wid, point, err)
	}
	return ResetResult{OldRunID: runID, RunID: resp.GetRunId(), EventID: point}, nil
}
