package api

import (
	"fmt"
	"testing"

	historypb "go.temporal.io/api/history/v1"
)

// TestOpenHistories: a running DAG's events are reused only while its
// run is the same and its history has exactly as many, and the kept
// histories stay bounded.
func TestOpenHistories(t *testing.T) {
	l := newViewLoader(nil, nil)
	events := func(n int) []*historypb.HistoryEvent {
		var ev []*historypb.HistoryEvent
		for i := 1; i <= n; i++ {
			ev = append(ev, &historypb.HistoryEvent{EventId: int64(i)})
		}
		return ev
	}
	l.keepOpen("dag-1", "run-a", events(3))
	if got := l.openEvents("dag-1", "run-a", 3); len(got) != 3 {
		t.Fatalf("same length: %d events", len(got))
	}
	for _, n := range []int64{2, 4} {
		if got := l.openEvents("dag-1", "run-a", n); got != nil {
			t.Errorf("history length %d: reused %d events", n, len(got))
		}
	}
	if got := l.openEvents("dag-2", "run-a", 3); got != nil {
		t.Error("events of another DAG")
	}
	if got := l.openEvents("dag-1", "run-b", 3); got != nil {
		t.Error("events of another run (a reset) of the same length")
	}
	l.forgetOpen("dag-1")
	if got := l.openEvents("dag-1", "run-a", 3); got != nil || len(l.openOrder) != 0 {
		t.Errorf("after forget: %d events, order %v", len(got), l.openOrder)
	}
	for i := range maxOpenHistories + 10 {
		l.keepOpen(fmt.Sprintf("dag-%d", i), "run", events(1))
	}
	if len(l.open) != maxOpenHistories || len(l.openOrder) != maxOpenHistories || l.openEvents("dag-0", "run", 1) != nil || l.openEvents(fmt.Sprintf("dag-%d", maxOpenHistories+9), "run", 1) == nil {
		t.Errorf("bound: %d kept, %d in order", len(l.open), len(l.openOrder))
	}
}
