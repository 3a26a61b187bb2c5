package workflows

import (
	"errors"
	"github.com/obflow/obflow/internal/obcluster"
	"testing"
)

// ResetPoint finds the workflow task that scheduled a stage's first run in
// the recorded histories (HISTORY.md's activity ids), also when the stage
// ran again later (retry: stage 3 failed on one host, was rolled back and
// re-run in rounds 2 and 3), and refuses a stage that never ran.
func TestResetPoint(t *testing.T) {
	retry := loadHistory(t, "retry").Events
	for stage, want := range map[int]int64{1: 4, 2: 11, 3: 27, 4: 63, 11: 121} {
		got, err := ResetPoint(retry, stage)
		if err != nil || got != want {
			t.Errorf("retry, stage %d: %d, %v; want event %d", stage, got, err, want)
			continue
		}
		if ev := retry[got-1]; ev.GetEventId() != got || ev.GetWorkflowTaskCompletedEventAttributes() == nil {
			t.Errorf("retry, stage %d: event %d is %s, want a WorkflowTaskCompleted", stage, got, ev.GetEventType())
		}
	}
	unreachable := loadHistory(t, "unreachable").Events
	if _, err := ResetPoint(unreachable, 2); err != nil {
		t.Errorf("unreachable, the failed stage 2: %v", err)
	}
	var refused *ResetRefusedError
	if _, err := ResetPoint(unreachable, 3); !errors.As(err, &refused) || refused.Reason != "stage 3 never ran" {
		t.Errorf("unreachable, stage 3 after the failed one: %v", err)
	}
	if got := dagState(unreachable); got != obcluster.StateFailed {
		t.Errorf("state of unreachable: %q", got)
	}
	if got := dagState(retry); got != obcluster.StateSucceed {
		t.Errorf("state of retry: %q", got)
	}
}
