package starter

import (
	"context"
	"fmt"
	"github.com/obflow/obflow/internal/obcluster"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/termtest"
)

var viewHosts = []string{"127.0.4.2", "127.0.4.3", "127.0.4.4"}

// dagAt is a DAG of maxStage stages on viewHosts at stage, in state: the stages before it
// succeeded, the current one is in nodeState.
func dagAt(name string, maxStage, stage int, state, nodeState obcluster.State) *obshell.DagDetailDTO {
	d := &obshell.DagDetailDTO{GenericID: "21" + fmt.Sprint(maxStage*100+stage), Name: name, Stage: stage, MaxStage: maxStage,
		TaskStatusDTO: obshell.TaskStatusDTO{State: state, Operator: obcluster.OperatorRun}}
	for s := 1; s <= maxStage; s++ {
		st := obcluster.StatePending
		switch {
		case s < stage:
			st = obcluster.StateSucceed
		case s == stage:
			st = nodeState
		}
		n := &obshell.NodeDetailDTO{Name: fmt.Sprintf("stage-%d", s), TaskStatusDTO: obshell.TaskStatusDTO{State: st, Operator: obcluster.OperatorRun}}
		for _, h := range viewHosts {
			n.SubTasks = append(n.SubTasks, &obshell.TaskDetailDTO{ExecuteAgent: obcluster.Agent{IP: h, Port: 2886},
				TaskStatusDTO: obshell.TaskStatusDTO{State: st, Operator: obcluster.OperatorRun}})
		}
		d.Nodes = append(d.Nodes, n)
	}
	return d
}

// TestTermViewFinalFrame runs the live view on a pseudo-terminal, as `obflow demo` does on a
// terminal, and reads the screen it leaves: a DAG that finished has a full bar whatever the last
// poll saw (the bar used to freeze at the first poll past stage 1), one that failed keeps its bar
// at the stages done and says FAILED, and a step that stopped without a final state says where.
func TestTermViewFinalFrame(t *testing.T) {
	term, err := termtest.Open(160, 50)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer term.Close()

	view := NewView(term.TTY)
	if _, ok := view.(*TermView); !ok {
		t.Fatalf("NewView on a sized pseudo-terminal is %T, want the live view", view)
	}
	poll := func(d *obshell.DagDetailDTO) {
		view.Dag(d)
		time.Sleep(150 * time.Millisecond) // longer than the refresh rate: every poll is drawn
	}
	const initName, joinName, failName, stopName = "Initialize cluster", "Join to master", "Cluster bootstrap fails", "Interrupted"

	view.Step(initName)
	for _, s := range []int{1, 2, 5} {
		poll(dagAt(initName, 11, s, obcluster.StateRunning, obcluster.StateRunning))
	}
	view.StepDone(initName, dagAt(initName, 11, 11, obcluster.StateSucceed, obcluster.StateSucceed), nil)

	view.Step(joinName)
	poll(dagAt(joinName, 2, 2, obcluster.StateRunning, obcluster.StateRunning))
	view.StepDone(joinName, dagAt(joinName, 2, 2, obcluster.StateSucceed, obcluster.StateSucceed), nil)

	view.Step(failName)
	for _, s := range []int{1, 2} {
		poll(dagAt(failName, 11, s, obcluster.StateRunning, obcluster.StateRunning))
	}
	failed := dagAt(failName, 11, 4, obcluster.StateFailed, obcluster.StateFailed)
	view.StepDone(failName, failed, &DagFailedError{Dag: failed, Failures: Explain(failed)})

	view.Step(stopName)
	last := dagAt(stopName, 11, 3, obcluster.StateRunning, obcluster.StateRunning)
	poll(last)
	view.StepDone(stopName, last, context.Canceled)
	view.Close()
	out, err := term.Done()
	if err != nil {
		t.Fatal(err)
	}
	screen, err := termtest.Replay(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("final frame:\n%s", strings.Join(screen, "\n"))

	for _, c := range []struct {
		name, text string
		filled     int // cells of 22 drawn done ('=', and the tip '>')
	}{
		{initName, "SUCCEED at stage 11/11 stage-11", 22},
		{joinName, "SUCCEED at stage 2/2 stage-2", 22},
		{failName, "FAILED at stage 4/11 stage-4", 22 * 3 / 11},
		{stopName, "stopped at stage 3/11 stage-3", 22 * 2 / 11},
	} {
		line := termtest.Line(screen, c.name)
		if line == "" {
			t.Errorf("no line for %q", c.name)
			continue
		}
		if !strings.Contains(line, c.text) {
			t.Errorf("%q: line %q does not say %q", c.name, line, c.text)
		}
		bar, ok := termtest.Bar(line)
		if !ok || len(bar) != 22 {
			t.Errorf("%q: no 22-cell bar in %q", c.name, line)
			continue
		}
		if n := strings.Count(bar, "=") + strings.Count(bar, ">"); n != c.filled {
			t.Errorf("%q: bar [%s] has %d of 22 cells filled, want %d", c.name, bar, n, c.filled)
		}
	}
	// A failed step keeps its hosts' lines, with the failed stage; successful ones collapse.
	for _, h := range viewHosts {
		if line := termtest.Line(screen, h+":2886"); !strings.Contains(line, "FAILED") || !strings.Contains(line, "stage-4") {
			t.Errorf("host %s: %q, want its FAILED sub-task of stage-4", h, line)
		}
	}
	if n := strings.Count(strings.Join(screen, "\n"), viewHosts[0]+":2886"); n != 2 {
		t.Errorf("host lines of %s: %d, want those of the failed and the stopped step", viewHosts[0], n)
	}
}
