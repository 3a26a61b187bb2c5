package starter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/obflow/obflow/internal/obshell"
)

var viewHosts = []string{"127.0.4.2", "127.0.4.3", "127.0.4.4"}

// dagAt is a DAG of maxStage stages on viewHosts at stage, in state: the stages before it
// succeeded, the current one is in nodeState.
func dagAt(name string, maxStage, stage int, state, nodeState string) *obshell.DagDetailDTO {
	d := &obshell.DagDetailDTO{GenericID: "21" + fmt.Sprint(maxStage*100+stage), Name: name, Stage: stage, MaxStage: maxStage,
		TaskStatusDTO: obshell.TaskStatusDTO{State: state, Operator: "RUN"}}
	for s := 1; s <= maxStage; s++ {
		st := "PENDING"
		switch {
		case s < stage:
			st = "SUCCEED"
		case s == stage:
			st = nodeState
		}
		n := &obshell.NodeDetailDTO{Name: fmt.Sprintf("stage-%d", s), TaskStatusDTO: obshell.TaskStatusDTO{State: st, Operator: "RUN"}}
		for _, h := range viewHosts {
			n.SubTasks = append(n.SubTasks, &obshell.TaskDetailDTO{ExecuteAgent: obshell.AgentInfo{IP: h, Port: 2886},
				TaskStatusDTO: obshell.TaskStatusDTO{State: st, Operator: "RUN"}})
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
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 50, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	const end = "\x00end of test\x00"
	raw := make(chan []byte, 1)
	go func() { raw <- readUntil(ptmx, end) }()

	view := NewView(tty)
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
		poll(dagAt(initName, 11, s, "RUNNING", "RUNNING"))
	}
	view.StepDone(initName, dagAt(initName, 11, 11, "SUCCEED", "SUCCEED"), nil)

	view.Step(joinName)
	poll(dagAt(joinName, 2, 2, "RUNNING", "RUNNING"))
	view.StepDone(joinName, dagAt(joinName, 2, 2, "SUCCEED", "SUCCEED"), nil)

	view.Step(failName)
	for _, s := range []int{1, 2} {
		poll(dagAt(failName, 11, s, "RUNNING", "RUNNING"))
	}
	failed := dagAt(failName, 11, 4, "FAILED", "FAILED")
	view.StepDone(failName, failed, &DagFailedError{Dag: failed, Failures: Explain(failed)})

	view.Step(stopName)
	last := dagAt(stopName, 11, 3, "RUNNING", "RUNNING")
	poll(last)
	view.StepDone(stopName, last, context.Canceled)
	view.Close()
	if _, err := io.WriteString(tty, end); err != nil {
		t.Fatal(err)
	}
	var out []byte
	select {
	case out = <-raw:
	case <-time.After(10 * time.Second):
		t.Fatal("the view's output did not arrive")
	}
	screen := replay(t, out)
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
		line := lineWith(screen, c.name)
		if line == "" {
			t.Errorf("no line for %q", c.name)
			continue
		}
		if !strings.Contains(line, c.text) {
			t.Errorf("%q: line %q does not say %q", c.name, line, c.text)
		}
		i, j := strings.Index(line, "["), strings.Index(line, "]")
		if i < 0 || j != i+23 {
			t.Errorf("%q: no 22-cell bar in %q", c.name, line)
			continue
		}
		bar := line[i+1 : j]
		if n := strings.Count(bar, "=") + strings.Count(bar, ">"); n != c.filled {
			t.Errorf("%q: bar [%s] has %d of 22 cells filled, want %d", c.name, bar, n, c.filled)
		}
	}
	// A failed step keeps its hosts' lines, with the failed stage; successful ones collapse.
	for _, h := range viewHosts {
		if line := lineWith(screen, h+":2886"); !strings.Contains(line, "FAILED") || !strings.Contains(line, "stage-4") {
			t.Errorf("host %s: %q, want its FAILED sub-task of stage-4", h, line)
		}
	}
	if n := strings.Count(strings.Join(screen, "\n"), viewHosts[0]+":2886"); n != 2 {
		t.Errorf("host lines of %s: %d, want those of the failed and the stopped step", viewHosts[0], n)
	}
}

// readUntil reads r until end arrives and returns what came before it.
func readUntil(r io.Reader, end string) []byte {
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if i := bytes.Index(b.Bytes(), []byte(end)); i >= 0 {
			return b.Bytes()[:i]
		}
		if err != nil {
			return b.Bytes()
		}
	}
}

// replay draws out on an empty screen the way a terminal does, for what mpb writes: text, CR,
// LF and its one escape sequence, ESC[nA ESC[J (cursor n lines up, erase to the end of the
// screen). Anything else fails the test: the model would be wrong.
func replay(t *testing.T, out []byte) []string {
	t.Helper()
	var lines [][]rune
	row, col := 0, 0
	for i := 0; i < len(out); {
		switch c := out[i]; c {
		case '\r':
			col = 0
			i++
		case '\n':
			row++
			i++
		case 0x1b:
			j := i + 2
			for j < len(out) && out[j] >= '0' && out[j] <= '9' {
				j++
			}
			if i+1 >= len(out) || out[i+1] != '[' || j >= len(out) {
				t.Fatalf("unexpected escape sequence at %d: %q", i, out[i:min(i+8, len(out))])
			}
			n := 0
			fmt.Sscan(string(out[i+2:j]), &n)
			switch out[j] {
			case 'A':
				row = max(row-max(n, 1), 0)
			case 'J':
				if row < len(lines) {
					lines[row] = lines[row][:min(col, len(lines[row]))]
					lines = lines[:row+1]
				}
			default:
				t.Fatalf("unexpected escape sequence %q", out[i:j+1])
			}
			i = j + 1
		default:
			r, size := utf8.DecodeRune(out[i:])
			i += size
			for len(lines) <= row {
				lines = append(lines, nil)
			}
			for len(lines[row]) < col {
				lines[row] = append(lines[row], ' ')
			}
			if col < len(lines[row]) {
				lines[row][col] = r
			} else {
				lines[row] = append(lines[row], r)
			}
			col++
		}
	}
	screen := make([]string, len(lines))
	for i, l := range lines {
		screen[i] = strings.TrimRight(string(l), " ")
	}
	return screen
}

func lineWith(screen []string, s string) string {
	for _, l := range screen {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
