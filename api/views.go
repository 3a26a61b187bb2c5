package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/sync/singleflight"

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

// closedRecheckEvery is how long a finished DAG's cached view is served
// before Describe confirms again that its run is still the workflow's
// current one. A closed run's history never changes, but
// `temporal workflow reset` can start a new run of a finished DAG
// workflow: every agent shows that run at most this long after the reset.
// It costs at most one Describe per finished DAG per interval, however many
// requests ask for it.
const closedRecheckEvery = 200 * time.Millisecond

// viewLoader reads DAG workflows' histories and translates them. A closed
// run's history never changes, so its view is cached, tied to its run id
// and re-checked against the workflow's current run (closedRecheckEvery).
// An open one is described on every request: its pending activities carry
// the running sub-tasks' attempts and heartbeat logs, and its run id and
// history length say whether the events read last time are still all
// there are.
type viewLoader struct {
	c  client.Client
	dc converter.DataConverter

	mu    sync.RWMutex
	cache map[string]*closedView
	order []string
	// open holds the events last read for running DAGs, oldest first in
	// openOrder.
	open      map[string]openHistory
	openOrder []string
	// recheck shares one Describe among the requests that find the same
	// cached view due for a check.
	recheck singleflight.Group
}

// closedView is the cached view of a closed run (cached), or a view
// served once (an open run's).
type closedView struct {
	v      *dagview.View
	runID  string
	cached bool
	// checked is when (unix ns) Describe last said runID is the current,
	// closed run.
	checked atomic.Int64
	// raw holds the encoded DTOs (with and without details) once one was
	// served: serving a finished DAG then costs no encoding.
	raw atomic.Pointer[[2]json.RawMessage]
}

// dagData is the data of GET /task/dag/:id: the encoded DTO of a closed
// DAG from the cache, else the DTO.
func (l *viewLoader) dagData(ctx context.Context, gid string, details bool) (any, error) {
	idx := 1
	if details {
		idx = 0
	}
	cv, err := l.loadCached(ctx, gid)
	if err != nil {
		return nil, err
	}
	if !cv.cached {
		if details {
			return cv.v.Dag, nil
		}
		return cv.v.Summary(), nil
	}
	if r := cv.raw.Load(); r != nil {
		return rawData{r[idx]}, nil
	}
	full, err := json.Marshal(cv.v.Dag)
	if err != nil {
		return nil, err
	}
	sum, err := json.Marshal(cv.v.Summary())
	if err != nil {
		return nil, err
	}
	r := [2]json.RawMessage{full, sum}
	cv.raw.Store(&r)
	return rawData{r[idx]}, nil
}

// rawData is an already encoded payload. It is a struct, not a slice, so
// the envelope does not wrap it in {"contents": ...}.
type rawData struct{ b json.RawMessage }

func (r rawData) MarshalJSON() ([]byte, error) { return r.b, nil }

func newViewLoader(c client.Client, dc converter.DataConverter) *viewLoader {
	return &viewLoader{c: c, dc: dc, cache: map[string]*closedView{}, open: map[string]openHistory{}}
}

// load returns the view of the DAG with generic id gid: 404 Task.NotFound
// "Task not found: record not found" when no such workflow exists.
func (l *viewLoader) load(ctx context.Context, gid string) (*dagview.View, error) {
	cv, err := l.loadCached(ctx, gid)
	if err != nil {
		return nil, err
	}
	return cv.v, nil
}

// loadCached is load with the cache entry (cached only for a closed run).
func (l *viewLoader) loadCached(ctx context.Context, gid string) (*closedView, error) {
	wid := workflows.WorkflowID(gid)
	l.mu.RLock()
	cv, ok := l.cache[wid]
	l.mu.RUnlock()
	if ok {
		if time.Since(time.Unix(0, cv.checked.Load())) < closedRecheckEvery {
			return cv, nil
		}
		r, err, _ := l.recheck.Do(wid, func() (any, error) {
			// Shared by every caller: not bound to the first one's request.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), describeTimeout)
			defer cancel()
			at := time.Now()
			d, err := l.c.DescribeWorkflowExecution(dctx, wid, "")
			if err != nil {
				return currentRun{}, err
			}
			info := d.GetWorkflowExecutionInfo()
			return currentRun{runID: info.GetExecution().GetRunId(), closed: info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, at: at}, nil
		})
		if err != nil {
			var nf *serviceerror.NotFound
			if !errors.As(err, &nf) {
				return nil, fmt.Errorf("describe %s: %w", wid, err)
			}
		}
		if cur := r.(currentRun); err == nil && cur.closed && cur.runID == cv.runID {
			cv.checked.Store(cur.at.UnixNano())
			return cv, nil
		}
		// A reset started another run (or the workflow is gone): the view
		// of the old run goes, with its encoded DTOs.
		l.forgetClosed(wid, cv)
	}

	d, err := l.c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, obshell.NewTaskNotFoundReason("record not found")
		}
		return nil, fmt.Errorf("describe %s: %w", wid, err)
	}
	info := d.GetWorkflowExecutionInfo()
	// The run id matters: a reset starts a new run whose history may be as
	// long as the old one's.
	runID := info.GetExecution().GetRunId()
	events := l.openEvents(wid, runID, info.GetHistoryLength())
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
	v, err := dagview.Translate(in)
	if err != nil {
		return nil, fmt.Errorf("translate the history of %s: %w", wid, err)
	}
	if v.Dag.GenericID != gid {
		return nil, obshell.NewTaskNotFoundReason("dag id not match")
	}
	// Cached only when Describe said closed too: a run it saw running and
	// whose history then ended was terminated meanwhile, by a reset maybe,
	// and may already not be the current run.
	if !v.Closed || info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return &closedView{v: v}, nil
	}
	return l.keepClosed(wid, runID, v), nil
}

// currentRun is what Describe said of a workflow's current run at a time.
type currentRun struct {
	runID  string
	closed bool
	at     time.Time
}

// describeTimeout bounds a re-check's Describe.
const describeTimeout = 10 * time.Second

// keepClosed caches the view of the closed run runID (checked now) and
// returns its entry.
func (l *viewLoader) keepClosed(wid, runID string, v *dagview.View) *closedView {
	cv := &closedView{v: v, runID: runID, cached: true}
	cv.checked.Store(time.Now().UnixNano())
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.cache[wid]; ok && old.runID == runID {
		return old
	}
	if _, ok := l.cache[wid]; !ok {
		l.order = append(l.order, wid)
	}
	l.cache[wid] = cv
	if len(l.order) > maxCachedViews {
		delete(l.cache, l.order[0])
		l.order = l.order[1:]
	}
	return cv
}

// forgetClosed drops wid's cached view if it still is cv.
func (l *viewLoader) forgetClosed(wid string, cv *closedView) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cache[wid] == cv {
		delete(l.cache, wid)
		l.order = slices.DeleteFunc(l.order, func(w string) bool { return w == wid })
	}
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
