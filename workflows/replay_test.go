package workflows

import (
	"os"
	"path/filepath"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/searchattr"
)

// recorded are the histories record_test.go wrote from runs on the
// embedded server (re-record: go test -tags embedded ./workflows -run TestRecordHistories -record).
var recorded = []string{"success", "retry", "rollback", "cancel", "unreachable"}

func loadHistory(t *testing.T, name string) *historypb.History {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	h := &historypb.History{}
	if err := protojson.Unmarshal(b, h); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h
}

// The workflow code must replay every recorded history without a
// non-determinism error.
func TestReplayRecordedHistories(t *testing.T) {
	for _, name := range recorded {
		t.Run(name, func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			Register(replayer)
			if err := replayer.ReplayWorkflowHistory(nil, loadHistory(t, name)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The recorded histories say what HISTORY.md says they say.
func TestRecordedHistoriesFollowHistoryMD(t *testing.T) {
	want := map[string]DagStatus{
		"success":     {State: obcluster.StateSucceed, Operator: obcluster.OperatorRun, Stage: 11, MaxStage: 11},
		"retry":       {State: obcluster.StateSucceed, Operator: obcluster.OperatorRun, Stage: 11, MaxStage: 11},
		"rollback":    {State: obcluster.StateSucceed, Operator: obcluster.OperatorRollback, Stage: 1, MaxStage: 11},
		"cancel":      {State: obcluster.StateSucceed, Operator: obcluster.OperatorRollback, Stage: 1, MaxStage: 11},
		"unreachable": {State: obcluster.StateFailed, Operator: obcluster.OperatorRun, Stage: 2, MaxStage: 11},
	}
	dc := converter.GetDefaultDataConverter()
	for _, name := range recorded {
		t.Run(name, func(t *testing.T) {
			h := loadHistory(t, name)
			plan, err := DecodePlan(h.Events[0].GetWorkflowExecutionStartedEventAttributes(), dc)
			if err != nil {
				t.Fatal(err)
			}
			var last DagStatus
			last.MaxStage = plan.MaxStage()
			var result DagResult
			updates := map[string]int{}
			markers := 0
			for _, e := range h.Events {
				if a := e.GetUpsertWorkflowSearchAttributesEventAttributes(); a != nil {
					f := a.GetSearchAttributes().GetIndexedFields()
					if p := f[searchattr.DagState.GetName()]; p != nil {
						_ = dc.FromPayload(p, &last.State)
					}
					if p := f[searchattr.DagOperator.GetName()]; p != nil {
						_ = dc.FromPayload(p, &last.Operator)
					}
					if p := f[searchattr.DagStage.GetName()]; p != nil {
						var s int64
						_ = dc.FromPayload(p, &s)
						last.Stage = int(s)
					}
				}
				if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
					id, err := ParseActivityID(a.GetActivityId())
					if err != nil {
						t.Fatal(err)
					}
					st := plan.Stages[id.Stage-1]
					wantType := st.ActivityType()
					if id.Kind == KindRollback {
						wantType = st.Rollback
					}
					if a.GetActivityType().GetName() != wantType {
						t.Errorf("%s runs %q, want %q", id, a.GetActivityType().GetName(), wantType)
					}
					found := false
					for _, tg := range st.Targets {
						if tg.Agent == id.Agent && tg.Queue == a.GetTaskQueue().GetName() {
							found = true
						}
					}
					if !found {
						t.Errorf("%s on queue %s is not a target of stage %d", id, a.GetTaskQueue().GetName(), id.Stage)
					}
				}
				if a := e.GetActivityTaskFailedEventAttributes(); a != nil {
					info := a.GetFailure().GetApplicationFailureInfo()
					var logs []string
					if !isErrCode(info.GetType()) || dc.FromPayloads(info.GetDetails(), &logs) != nil || len(logs) == 0 {
						t.Errorf("failure %q of type %q without obshell code or logs", a.GetFailure().GetMessage(), info.GetType())
					}
				}
				if a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
					updates[a.GetAcceptedRequest().GetInput().GetName()]++
				}
				if m := e.GetMarkerRecordedEventAttributes(); m != nil {
					if _, ok, err := DecodeSubTaskFailure(m, dc); err != nil || !ok {
						t.Errorf("marker %v: ok=%v err=%v", m.GetMarkerName(), ok, err)
					}
					markers++
				}
				if a := e.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
					if err := dc.FromPayloads(a.GetResult(), &result); err != nil {
						t.Fatal(err)
					}
				}
			}
			if last != want[name] || result.DagStatus != want[name] {
				t.Fatalf("last upsert %+v, result %+v, want %+v", last, result, want[name])
			}
			switch name {
			case "retry":
				if updates[obcluster.OperatorRetry.String()] != 1 {
					t.Errorf("updates %v", updates)
				}
			case "rollback":
				if updates[obcluster.OperatorRollback.String()] != 1 {
					t.Errorf("updates %v", updates)
				}
			case "cancel":
				if updates[obcluster.OperatorCancel.String()] != 1 || updates[obcluster.OperatorRollback.String()] != 1 {
					t.Errorf("updates %v", updates)
				}
			case "unreachable":
				if markers != 1 || !result.Expired {
					t.Errorf("markers %d, result %+v", markers, result)
				}
			}
		})
	}
}
