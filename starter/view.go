package starter

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/obflow/obflow/internal/obshell"
)

// View shows the flow's progress. Step starts a step (one DAG), Dag is called with every poll of
// that DAG, StepDone ends the step (dag may be nil when the request itself failed), Close flushes.
type View interface {
	Step(name string)
	Dag(dag *obshell.DagDetailDTO)
	StepDone(name string, dag *obshell.DagDetailDTO, err error)
	Close()
}

type nopView struct{}

func (nopView) Step(string)                                   {}
func (nopView) Dag(*obshell.DagDetailDTO)                     {}
func (nopView) StepDone(string, *obshell.DagDetailDTO, error) {}
func (nopView) Close()                                        {}

// NewView returns the live terminal view when w is a terminal with a size and the plain line view
// otherwise (a pipe, a file, CI logs, a pseudo-terminal nobody sized: the live view would have
// no rows to draw in).
func NewView(w io.Writer) View {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, rows, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 && rows > 0 {
			return NewTermView(w)
		}
	}
	return NewLineView(w)
}

// progressOf is what both views show of a DAG: the stage, its name, and the state of each
// sub-task of the current stage by host.
type progressOf struct {
	stage, max int
	name       string // the node at stage
	nodeState  string
	hosts      []string // "ip:port STATE", sorted by host
	dagState   string
}

func progress(d *obshell.DagDetailDTO) progressOf {
	p := progressOf{stage: d.Stage, max: d.MaxStage, dagState: stateOp(d.TaskStatusDTO)}
	if d.Stage >= 1 && d.Stage <= len(d.Nodes) && d.Nodes[d.Stage-1] != nil {
		n := d.Nodes[d.Stage-1]
		p.name, p.nodeState = n.Name, stateOp(n.TaskStatusDTO)
		for _, st := range n.SubTasks {
			if st != nil {
				p.hosts = append(p.hosts, st.ExecuteAgent.String()+" "+stateOp(st.TaskStatusDTO))
			}
		}
		slices.Sort(p.hosts)
	}
	return p
}

// done is how many stages are finished, for a bar.
func (p progressOf) done() int {
	if p.nodeState == "SUCCEED" || strings.HasPrefix(p.dagState, "SUCCEED") {
		return p.stage
	}
	return max(p.stage-1, 0)
}

// LineView prints one line per change: a new step, a new stage or a sub-task state change, with
// the time since the step began. It never moves the cursor, so logs and pipes stay readable.
type LineView struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  string
	dagID string
	now   func() time.Time
}

// NewLineView writes to w.
func NewLineView(w io.Writer) *LineView { return &LineView{w: w, now: time.Now} }

func (v *LineView) Step(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.start, v.last, v.dagID = v.now(), "", ""
	fmt.Fprintf(v.w, "==> %s\n", name)
}

func (v *LineView) Dag(d *obshell.DagDetailDTO) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.GenericID != v.dagID {
		// The id first, so that a reader can inspect the DAG while it runs.
		v.dagID = d.GenericID
		fmt.Fprintf(v.w, "    DAG %s %q\n", d.GenericID, d.Name)
	}
	p := progress(d)
	line := fmt.Sprintf("stage %d/%d %s %s", p.stage, p.max, p.name, p.nodeState)
	if len(p.hosts) > 0 {
		line += ": " + strings.Join(p.hosts, ", ")
	}
	if line == v.last {
		return
	}
	v.last = line
	fmt.Fprintf(v.w, "    [%6s] %s\n", elapsed(v.now().Sub(v.start)), line)
}

func (v *LineView) StepDone(name string, d *obshell.DagDetailDTO, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	took := elapsed(v.now().Sub(v.start))
	switch {
	case err != nil && d != nil && d.IsFailed():
		fmt.Fprintf(v.w, "    [%6s] %s %s\n", took, d.Name, stateOp(d.TaskStatusDTO))
	case err != nil:
		fmt.Fprintf(v.w, "    [%6s] failed: %v\n", took, err)
	case d != nil:
		fmt.Fprintf(v.w, "    [%6s] %s %s (%s)\n", took, d.Name, stateOp(d.TaskStatusDTO), d.GenericID)
	}
}

func (v *LineView) Close() {}

func elapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// TermView is the live terminal view: per step a bar of stages done out of max_stage with the
// current stage's number and name and the elapsed time, and under it one line per host with its
// sub-task's state, redrawn in place.
type TermView struct {
	p *mpb.Progress

	// mu guards the bars. Decorators run on mpb's goroutines and lock only their step's data,
	// never mu, because mpb's bar methods wait for those goroutines.
	mu    sync.Mutex
	step  *mpb.Bar
	data  *termStep
	hosts map[string]*mpb.Bar
}

// termStep is what one step's lines show.
type termStep struct {
	mu         sync.Mutex
	cur        progressOf
	state      map[string]string // host → "STATE stage-name"
	start, end time.Time
	stopped    bool // the step ended without its DAG's final state (the request or the wait failed)
}

func (t *termStep) elapsedText(decor.Statistics) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := t.end
	if end.IsZero() {
		end = time.Now()
	}
	return elapsed(end.Sub(t.start))
}

func (t *termStep) stageText(decor.Statistics) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur.max == 0 {
		return "starting"
	}
	if strings.HasPrefix(t.cur.dagState, "SUCCEED") || strings.HasPrefix(t.cur.dagState, "FAILED") {
		return fmt.Sprintf("%s at stage %d/%d %s", t.cur.dagState, t.cur.stage, t.cur.max, t.cur.name)
	}
	if t.stopped {
		return fmt.Sprintf("stopped at stage %d/%d %s", t.cur.stage, t.cur.max, t.cur.name)
	}
	return fmt.Sprintf("stage %d/%d %s %s", t.cur.stage, t.cur.max, t.cur.name, t.cur.nodeState)
}

func (t *termStep) hostText(host string) decor.DecorFunc {
	return func(decor.Statistics) string {
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Sprintf("    %-22s %s", host, t.state[host])
	}
}

// NewTermView draws on w, which should be a terminal.
func NewTermView(w io.Writer) *TermView {
	return &TermView{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(24), mpb.WithRefreshRate(120*time.Millisecond))}
}

func (v *TermView) Step(name string) {
	st := &termStep{state: map[string]string{}, start: time.Now()}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.data, v.hosts = st, map[string]*mpb.Bar{}
	// Total 0: mpb completes a bar by itself once current reaches the total it was created with,
	// and a bar created with 1 froze at the first poll past stage 1. This one completes only in
	// StepDone, from the DAG's final state.
	v.step = v.p.New(0, mpb.BarStyle().Lbound("[").Rbound("]"),
		mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 44})),
		mpb.AppendDecorators(
			decor.Any(st.stageText, decor.WC{C: decor.DextraSpace}),
			decor.Any(st.elapsedText, decor.WC{C: decor.DextraSpace}),
		))
}

func (v *TermView) Dag(d *obshell.DagDetailDTO) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.step == nil {
		return
	}
	p := v.show(d)
	if p.max > 0 {
		v.step.SetTotal(int64(p.max), false)
		v.step.SetCurrent(int64(p.done()))
	}
}

// show puts d's stage and its hosts' sub-task states in the step's lines. v.mu is held.
func (v *TermView) show(d *obshell.DagDetailDTO) progressOf {
	p := progress(d)
	var hosts []string
	st := v.data
	st.mu.Lock()
	st.cur = p
	if d.Stage >= 1 && d.Stage <= len(d.Nodes) && d.Nodes[d.Stage-1] != nil {
		n := d.Nodes[d.Stage-1]
		for _, t := range n.SubTasks {
			if t != nil {
				host := t.ExecuteAgent.String()
				st.state[host] = fmt.Sprintf("%-9s %s", stateOp(t.TaskStatusDTO), n.Name)
				hosts = append(hosts, host)
			}
		}
	}
	st.mu.Unlock()
	slices.Sort(hosts)
	for _, host := range hosts {
		if _, ok := v.hosts[host]; !ok {
			v.hosts[host] = v.p.New(0, mpb.NopStyle(), mpb.PrependDecorators(decor.Any(st.hostText(host))))
		}
	}
	return p
}

// StepDone draws the step's last frame from the DAG's final state, whatever the last poll saw: a
// DAG that succeeded has a full bar; one that failed keeps its bar at the stages done and says
// FAILED; a step that ended without a final state says where it stopped.
func (v *TermView) StepDone(name string, d *obshell.DagDetailDTO, err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.step == nil {
		return
	}
	if d != nil {
		v.show(d)
	}
	v.data.mu.Lock()
	v.data.end = time.Now()
	cur := v.data.cur
	succeeded := err == nil && (d == nil || d.IsSucceed())
	v.data.stopped = !succeeded && (d == nil || !d.IsFailed())
	v.data.mu.Unlock()
	// Successful steps collapse to their bar; a failed step keeps its host lines on screen.
	for _, b := range v.hosts {
		b.Abort(succeeded)
	}
	if succeeded {
		total := int64(max(cur.max, 1))
		v.step.SetTotal(total, false)
		v.step.SetCurrent(total)
		v.step.SetTotal(-1, true)
	} else {
		if cur.max > 0 {
			v.step.SetTotal(int64(cur.max), false)
			v.step.SetCurrent(int64(cur.done()))
		}
		v.step.Abort(false)
	}
	v.step, v.hosts, v.data = nil, nil, nil
}

// Close waits for the last redraw.
func (v *TermView) Close() {
	v.mu.Lock()
	for _, b := range v.hosts {
		b.Abort(false)
	}
	if v.step != nil {
		v.step.Abort(false)
	}
	v.step, v.hosts, v.data = nil, nil, nil
	v.mu.Unlock()
	v.p.Wait()
}
