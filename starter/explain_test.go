package starter

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obshell"
)

func st(state, op string) obshell.TaskStatusDTO {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return obshell.TaskStatusDTO{State: state, Operator: op, StartTime: t0, EndTime: t0.Add(1500 * time.Millisecond)}
}

func sub(ip, state string, logs ...string) *obshell.TaskDetailDTO {
	return &obshell.TaskDetailDTO{Name: "x", TaskStatusDTO: st(state, "RUN"), ExecuteTimes: 1,
		ExecuteAgent: obshell.AgentInfo{IP: ip, Port: 2886}, TaskLogs: logs}
}

// failedInit is an init DAG that failed at stage 4 on one of three hosts.
func failedInit() *obshell.DagDetailDTO {
	return &obshell.DagDetailDTO{
		GenericID: "20167772161028863", Name: DagInitCluster, Stage: 4, MaxStage: 11, TaskStatusDTO: st("FAILED", "RUN"),
		Nodes: []*obshell.NodeDetailDTO{
			{Name: "Integrate config", TaskStatusDTO: st("SUCCEED", "RUN"), SubTasks: []*obshell.TaskDetailDTO{sub("10.0.0.1", "SUCCEED", "integrated")}},
			{Name: "Create observer workdir", TaskStatusDTO: st("SUCCEED", "RUN"), SubTasks: []*obshell.TaskDetailDTO{sub("10.0.0.1", "SUCCEED"), sub("10.0.0.2", "SUCCEED")}},
			{Name: "Start observer", TaskStatusDTO: st("SUCCEED", "RUN"), SubTasks: []*obshell.TaskDetailDTO{sub("10.0.0.1", "SUCCEED"), sub("10.0.0.2", "SUCCEED")}},
			{Name: "Cluster boostrap", TaskStatusDTO: st("FAILED", "RUN"), SubTasks: []*obshell.TaskDetailDTO{
				sub("10.0.0.1", "FAILED", "bootstrap begin", "ERROR: [OB.Cluster.Bootstrap.Failed]: bootstrap failed: ret=-4012"),
			}},
			{Name: "Migrate table", TaskStatusDTO: st("PENDING", "RUN")},
		},
	}
}

func TestExplainNamesStageHostAndLastLog(t *testing.T) {
	fs := Explain(failedInit())
	if len(fs) != 1 {
		t.Fatalf("failures = %+v", fs)
	}
	want := `stage 4/11 "Cluster boostrap" on 10.0.0.1:2886: ERROR: [OB.Cluster.Bootstrap.Failed]: bootstrap failed: ret=-4012`
	if got := fs[0].String(); got != want {
		t.Errorf("failure =\n %s\nwant\n %s", got, want)
	}
	err := error(&DagFailedError{Dag: failedInit(), Failures: fs})
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not carry the failure", err)
	}
	if Explain(&obshell.DagDetailDTO{TaskStatusDTO: st("SUCCEED", "RUN")}) != nil {
		t.Error("a successful DAG has failures")
	}
}

func TestWriteTree(t *testing.T) {
	var b bytes.Buffer
	WriteTree(&b, failedInit(), TreeOptions{})
	out := b.String()
	for _, want := range []string{
		"20167772161028863  Initialize cluster  FAILED  stage 4/11",
		"├─  4 Cluster boostrap                     FAILED",
		"│  └─ 10.0.0.1:2886         FAILED  attempts 1  1.5s",
		"│        ERROR: [OB.Cluster.Bootstrap.Failed]: bootstrap failed: ret=-4012",
		"└─  5 Migrate table                        PENDING",
		`Initialize cluster 20167772161028863 FAILED at stage 4/11 "Cluster boostrap".`,
		"  on 10.0.0.1:2886 (attempt 1): ERROR: [OB.Cluster.Bootstrap.Failed]",
		"obflow dag retry 20167772161028863",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tree lacks %q:\n%s", want, out)
		}
	}
	// Successful sub-tasks' logs appear only when asked for.
	if strings.Contains(out, "integrated") {
		t.Errorf("tree shows a successful sub-task's log by default:\n%s", out)
	}
	b.Reset()
	WriteTree(&b, failedInit(), TreeOptions{Logs: 5})
	if !strings.Contains(b.String(), "integrated") || !strings.Contains(b.String(), "bootstrap begin") {
		t.Errorf("Logs: 5 hides logs:\n%s", b.String())
	}
}

func TestLineView(t *testing.T) {
	var b bytes.Buffer
	v := NewLineView(&b)
	now := time.Unix(0, 0)
	v.now = func() time.Time { return now }
	v.Step("Initialize cluster")
	d := failedInit()
	d.Stage, d.State = 4, "RUNNING"
	d.Nodes[3].State = "RUNNING"
	d.Nodes[3].SubTasks[0].State = "RUNNING"
	now = now.Add(2 * time.Second)
	v.Dag(d)
	v.Dag(d) // unchanged: no second line
	d = failedInit()
	now = now.Add(time.Second)
	v.Dag(d)
	v.StepDone("Initialize cluster", d, errors.New("failed"))
	want := `==> Initialize cluster
    DAG 20167772161028863 "Initialize cluster"
    [  2.0s] stage 4/11 Cluster boostrap RUNNING: 10.0.0.1:2886 RUNNING
    [  3.0s] stage 4/11 Cluster boostrap FAILED: 10.0.0.1:2886 FAILED
    [  3.0s] Initialize cluster FAILED
`
	if b.String() != want {
		t.Errorf("line view:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestParseOperatorAndOutcome(t *testing.T) {
	for _, s := range []string{"retry", "ROLLBACK", "Cancel", "pass"} {
		if _, err := ParseOperator(s); err != nil {
			t.Errorf("ParseOperator(%q): %v", s, err)
		}
	}
	for _, s := range []string{"run", "", "redo"} {
		if _, err := ParseOperator(s); err == nil {
			t.Errorf("ParseOperator(%q) accepted", s)
		}
	}
	d := func(state, op string) *obshell.DagDetailDTO {
		return &obshell.DagDetailDTO{TaskStatusDTO: st(state, op)}
	}
	cases := []struct {
		op   obshell.Operator
		dag  *obshell.DagDetailDTO
		want bool
	}{
		{obshell.OperatorRetry, d("SUCCEED", "RUN"), true},
		{obshell.OperatorRetry, d("FAILED", "RUN"), false},
		{obshell.OperatorRollback, d("SUCCEED", "ROLLBACK"), true},
		{obshell.OperatorRollback, d("SUCCEED", "RUN"), false},
		{obshell.OperatorCancel, d("FAILED", "CANCEL"), true},
		{obshell.OperatorCancel, d("RUNNING", "CANCEL"), false},
		{obshell.OperatorPass, d("SUCCEED", "PASS"), true},
	}
	for _, c := range cases {
		if got := Outcome(c.op, c.dag); got != c.want {
			t.Errorf("Outcome(%s, %s/%s) = %v", c.op, c.dag.State, c.dag.Operator, got)
		}
	}
}
