package starter

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

func st(state obcluster.State, op obcluster.Operator) obshell.TaskStatusDTO {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return obshell.TaskStatusDTO{State: state, Operator: op, StartTime: t0, EndTime: t0.Add(1500 * time.Millisecond)}
}

func sub(ip string, state obcluster.State, logs ...string) *obshell.TaskDetailDTO {
	return &obshell.TaskDetailDTO{Name: "x", TaskStatusDTO: st(state, obcluster.OperatorRun), ExecuteTimes: 1,
		ExecuteAgent: obcluster.Agent{IP: ip, Port: 2886}, TaskLogs: logs}
}

// failedInit is an init DAG that failed at stage 4 on one of three hosts.
func failedInit() *obshell.DagDetailDTO {
	return &obshell.DagDetailDTO{
		GenericID: "20167772161028863", Name: DagInitCluster, Stage: 4, MaxStage: 11, TaskStatusDTO: st(obcluster.StateFailed, obcluster.OperatorRun),
		Nodes: []*obshell.NodeDetailDTO{
			{Name: "Integrate config", TaskStatusDTO: st(obcluster.StateSucceed, obcluster.OperatorRun), SubTasks: []*obshell.TaskDetailDTO{sub("10.0.0.1", obcluster.StateSucceed, "integrated")}},
			{Name: "Create observer workdir", TaskStatusDTO: st(obcluster.StateSucceed, obcluster.OperatorRun), SubTasks: []*obshell.TaskDetailDTO{sub("10.0.0.1", obcluster.StateSucceed), sub("10.0.0.2", obcluster.StateSucceed)}},
			{Name: "Start observer", TaskStatusDTO: st(obcluster.StateSucceed, obcluster.OperatorRun), SubTasks: []*obshell.TaskDetailDTO{sub("10.0.0.1", obcluster.StateSucceed), sub("10.0.0.2", obcluster.StateSucceed)}},
			{Name: "Cluster boostrap", TaskStatusDTO: st(obcluster.StateFailed, obcluster.OperatorRun), SubTasks: []*obshell.TaskDetailDTO{
				sub("10.0.0.1", obcluster.StateFailed, "bootstrap begin", "ERROR: [OB.Cluster.Bootstrap.Failed]: bootstrap failed: ret=-4012"),
			}},
			{Name: "Migrate table", TaskStatusDTO: st(obcluster.StatePending, obcluster.OperatorRun)},
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
	if Explain(&obshell.DagDetailDTO{TaskStatusDTO: st(obcluster.StateSucceed, obcluster.OperatorRun)}) != nil {
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
	d.Stage, d.State = 4, obcluster.StateRunning
	d.Nodes[3].State = obcluster.StateRunning
	d.Nodes[3].SubTasks[0].State = obcluster.StateRunning
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
	d := func(state obcluster.State, op obcluster.Operator) *obshell.DagDetailDTO {
		return &obshell.DagDetailDTO{TaskStatusDTO: st(state, op)}
	}
	cases := []struct {
		op   obcluster.Operator
		dag  *obshell.DagDetailDTO
		want bool
	}{
		{obcluster.OperatorRetry, d(obcluster.StateSucceed, obcluster.OperatorRun), true},
		{obcluster.OperatorRetry, d(obcluster.StateFailed, obcluster.OperatorRun), false},
		{obcluster.OperatorRollback, d(obcluster.StateSucceed, obcluster.OperatorRollback), true},
		{obcluster.OperatorRollback, d(obcluster.StateSucceed, obcluster.OperatorRun), false},
		{obcluster.OperatorCancel, d(obcluster.StateFailed, obcluster.OperatorCancel), true},
		{obcluster.OperatorCancel, d(obcluster.StateRunning, obcluster.OperatorCancel), false},
		{obcluster.OperatorPass, d(obcluster.StateSucceed, obcluster.OperatorPass), true},
	}
	for _, c := range cases {
		if got := Outcome(c.op, c.dag); got != c.want {
			t.Errorf("Outcome(%s, %s/%s) = %v", c.op, c.dag.State, c.dag.Operator, got)
		}
	}
}
