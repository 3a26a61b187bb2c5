package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/obflow/obflow/internal/dagview"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/workflows"
)

// maxCachedViews bounds the cache of finished DAGs' translations, and
// maxOpenHistories the histories kept for running ones.
const (
	maxCachedViews   = 4096
	maxOpenHistories = 256
)

// viewLoader reads DAG workflows' histories and translates them. A closed
// workflow's history never changes, so its view is cached for good. An
// open one is described on every request: its pending activities carry the
// running sub-tasks' attempts and heartbeat logs, and its history length
// says whether the events read last time are still all there are.
type viewLoader struct {
	c  client.Client
	dc converter.DataConverter

	mu    sync.RWMutex
	cache map[string]*dagview.View
	order []string
	// raw holds the encoded DTOs of closed DAGs (with and without
	// details): serving a finished DAG then costs no encoding.
	raw map[string][2]json.RawMessage
	// open holds the events last read for running DAGs, oldest first in
	// openOrder.
	open      map[string]openHistory
	openOrder []string
}

// dagData is the data of GET /task/dag/:id: the encoded DTO of a closed
// DAG from the cache, else the DTO.
func (l *viewLoader) dagData(ctx context.Context, gid string, details bool) (any, error) {
	wid := workflows.WorkflowID(gid)
	idx := 1
	if details {
		idx = 0
	}
	l.mu.RLock()
	r, ok := l.raw[wid]
	l.mu.RUnlock()
	if ok {
		return rawData{r[idx]}, nil
	}
	v, err := l.load(ctx, gid)
	if err != nil {
		return nil, err
	}
	if !v.Closed {
		if details {
			return v.Dag, nil
		}
		return v.Summary(), nil
	}
	full, err := json.Marshal(v.Dag)
	if err != nil {
		return nil, err
	}
	sum, err := json.Marshal(v.Summary())
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if _, cached := l.cache[wid]; cached { // evicted together with the view
		l.raw[wid] = [2]json.RawMessage{full, sum}
	}
	l.mu.Unlock()
	return rawData{[2]json.RawMessage{full, sum}[idx]}, nil
}

// rawData is an already encoded payload. It is a struct, not a slice, so
// the envelope does not wrap it in {"contents": ...}.
type rawData struct{ b json.RawMessage }

func (r rawData) MarshalJSON() ([]byte, error) { return r.b, nil }

func newViewLoader(c client.Client, dc converter.DataConverter) *viewLoader {
	return &viewLoader{c: c, dc: dc, cache: map[string]*dagview.View{}, raw: map[string][2]json.RawMessage{},
		open: map[string]openHistory{}}
}

// load returns the view of the DAG with generic id gid: 404 Task.NotFound
// "Task not found: record not found" when no such workflow exists.
func (l *viewLoader) load(ctx context.Context, gid string) (*dagview.View, error) {
	wid := workflows.WorkflowID(gid)
	l.mu.RLock()
	v, ok := l.cache[wid]
	l.mu.RUnlock()
	if ok {
		return v, nil
	}

	d, err := l.c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, obshell.NewTaskNotFoundReason("record not found")
		}
		return nil, fmt.Errorf("describe %s: %w", wid, err)
	}
	// The run id matters: `temporal workflow reset` starts a new run whose
	// history may be as long as the old one's.
	runID := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	events := l.openEvents(wid, runID, d.GetWorkflowExecutionInfo().GetHistoryLength())
	read := events == nil
	if read {
		if events, err = l.readHistory(ctx, wid, runID); err != nil {
			return nil, err
		}
	}
	in := dagview.Input{Events: events, DataConverter: l.dc}
	if closedEvent(events[len(events)-1]) {
		l.forgetOpen(wid)
	} else {
		if read { // a reused history is kept already
			l.keepOpen(wid, runID, events)
		}
		// Read after Describe, the history may already have closed some of
		// these activities; the translation ignores those.
		in.Pending = d.GetPendingActivities()
	}
	v, err = dagview.Translate(in)
	if err != nil {
		return nil, fmt.Errorf("translate the history of %s: %w", wid, err)
	}
	if v.Dag.GenericID != gid {
		return nil, obshell.NewTaskNotFoundReason("dag id not match")
	}
	if v.Closed {
		l.mu.Lock()
		if _, ok := l.cache[wid]; !ok {
			l.cache[wid] = v
			l.order = append(l.order, wid)
			if len(l.order) > maxCachedViews {
				delete(l.cache, l.order[0])
				delete(l.raw, l.order[0])
				l.order = l.order[1:]
			}
		}
		l.mu.Unlock()
	}
	return v, nil
}

// readHistory reads a DAG workflow's whole history.
func (l *viewLoader) readHistory(ctx context.Context, wid, runID string) ([]*historypb.HistoryEvent, error) {
	var events []*historypb.HistoryEvent
	it := l.c.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return nil, obshell.NewTaskNotFoundReason("record not found")
			}
			return nil, fmt.Errorf("read the history of %s: %w", wid, err)
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil, obshell.NewTaskNotFoundReason("record not found")
	}
	return events, nil
}

// openHistory is the history of one run of a running DAG as last read.
type openHistory struct {
	runID  string
	events []*historypb.HistoryEvent
}

// openEvents returns the events kept for a running DAG if they are of run
// runID and its history still has exactly that many (event ids are 1..n,
// append-only), else nil.
func (l *viewLoader) openEvents(wid, runID string, historyLength int64) []*historypb.HistoryEvent {
	l.mu.RLock()
	defer l.mu.RUnlock()
	h := l.open[wid]
	if n := len(h.events); n > 0 && h.runID == runID && int64(n) == historyLength && h.events[n-1].GetEventId() == historyLength {
		return h.events
	}
	return nil
}

func (l *viewLoader) keepOpen(wid, runID string, events []*historypb.HistoryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[wid]; !ok {
		l.openOrder = append(l.openOrder, wid)
		if len(l.openOrder) > maxOpenHistories {
			delete(l.open, l.openOrder[0])
			l.openOrder = l.openOrder[1:]
		}
	}
	l.open[wid] = openHistory{runID: runID, events: events}
}

func (l *viewLoader) forgetOpen(wid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[wid]; ok {
		delete(l.open, wid)
		l.openOrder = slices.DeleteFunc(l.openOrder, func(w string) bool { return w == wid })
	}
}

func closedEvent(ev *historypb.HistoryEvent) bool {
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		return true
	}
	return false
}
