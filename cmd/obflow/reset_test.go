package main

import (
	"bufio"
	"context"
	"github.com/obflow/obflow/internal/obcluster"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/internal/devstack"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/internal/obsim"
	"github.com/obflow/obflow/workflows"
)

var (
	reTemporal = regexp.MustCompile(`^Temporal\s+(\S+) \(namespace (\S+)\)`)
	reCodec    = regexp.MustCompile(`\(codec endpoint (http://\S+)\)`)
)

// failedInit is a dev stack whose init failed at "Cluster boostrap" on the master, as a new user
// meets it: the DAG, the Temporal frontend and codec endpoint of the stack, and what the client
// commands need.
type failedInit struct {
	s                *stack
	id, joinID       string
	address, codec   string
	namespace        string
	env              []string // the root password, Temporal's address and codec key
	tc               client.Client
	clients          []*obshellclient.Client // one per agent
	bootstrapFailure obsim.Faults
}

func newFailedInit(t *testing.T, firstIP string) *failedInit {
	t.Helper()
	s := startDev(t, t.TempDir(), firstIP)
	f := &failedInit{s: s, bootstrapFailure: obsim.Faults{
		// The delay keeps a re-run of the stage RUNNING long enough to look at it.
		BootstrapDelayMS: 3000,
		BootstrapError:   &obsim.SQLErrorSpec{Code: 4179, Message: "simulated bootstrap failure"},
	}}
	for _, l := range strings.Split(s.dev.output(), "\n") {
		if m := reTemporal.FindStringSubmatch(l); m != nil {
			f.address, f.namespace = m[1], m[2]
		}
		if m := reCodec.FindStringSubmatch(l); m != nil {
			f.codec = m[1]
		}
	}
	if f.address == "" || f.codec == "" {
		t.Fatalf("no Temporal address or codec endpoint in the dev output:\n%s", s.dev.output())
	}
	const pwd = "Re5et-to-stage"
	f.env = []string{"OBFLOW_ROOT_PASSWORD=" + pwd, "TEMPORAL_ADDRESS=" + f.address, "TEMPORAL_NAMESPACE=" + f.namespace,
		"OBFLOW_CODEC_KEY_FILE=" + filepath.Join(s.dir, "codec.key")}
	tc, err := client.Dial(client.Options{HostPort: f.address, Namespace: f.namespace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	f.tc = tc
	for _, h := range s.hosts {
		c, err := obshellclient.New(h.Agent(), obshellclient.WithPassword(pwd))
		if err != nil {
			t.Fatal(err)
		}
		f.clients = append(f.clients, c)
	}

	f.setFaults(t, f.bootstrapFailure)
	res := run(t, f.env, "cluster", "create", "-f", filepath.Join(s.dir, "cluster.yaml"), "--poll", "200ms")
	if res.code != exitDagFailed {
		t.Fatalf("cluster create with a failing bootstrap exited %d, want %d", res.code, exitDagFailed)
	}
	m := regexp.MustCompile(`(?m)^\s+DAG (\d+) "Initialize cluster"`).FindStringSubmatch(res.stdout)
	j := regexp.MustCompile(`(?m)Join self SUCCEED \((\d+)\)`).FindStringSubmatch(res.stdout)
	if m == nil || j == nil {
		t.Fatalf("no init or join DAG id in:\n%s", res.stdout)
	}
	f.id, f.joinID = m[1], j[1]
	f.waitState(t, obcluster.StateFailed)
	return f
}

func (f *failedInit) master() devstack.Host { return f.s.hosts[0] }

func (f *failedInit) setFaults(t *testing.T, faults obsim.Faults) {
	t.Helper()
	if err := obsim.WriteFaults(f.master().Home, faults); err != nil {
		t.Fatal(err)
	}
}

// dags is the init DAG as every agent answers for it.
func (f *failedInit) dags(t *testing.T) []*obshell.DagDetailDTO {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*obshell.DagDetailDTO
	for _, c := range f.clients {
		d, err := c.GetDag(ctx, f.id)
		if err != nil {
			t.Fatalf("GET the init DAG from %s: %v", c.Agent(), err)
		}
		out = append(out, d)
	}
	return out
}

// waitState waits until the master's agent shows the init DAG in state.
func (f *failedInit) waitState(t *testing.T, state obcluster.State) *obshell.DagDetailDTO {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d := f.dags(t)[0]
		if d.State == state {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("the init DAG is %s/%s at stage %d, want %s", d.State, d.Operator, d.Stage, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// run is the init workflow's current run: its id and history.
func (f *failedInit) run(t *testing.T) (string, []*historypb.HistoryEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wid := workflows.WorkflowID(f.id)
	d, err := f.tc.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		t.Fatal(err)
	}
	runID := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	var events []*historypb.HistoryEvent
	it := f.tc.GetWorkflowHistory(ctx, wid, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	return runID, events
}

// checkNewRun: every agent answers for the run that just started, not for the FAILED one
// before it: the re-run stage is RUNNING (the bootstrap fault delays it).
func (f *failedInit) checkNewRun(t *testing.T, what string) {
	t.Helper()
	for i, d := range f.dags(t) {
		if d.State != obcluster.StateRunning {
			t.Errorf("%s: agent %s shows the init DAG %s/%s at stage %d, want the new run RUNNING", what, f.s.hosts[i].Agent(), d.State, d.Operator, d.Stage)
		}
	}
}

// TestResetAndTemporalCLI: a new user's init fails at bootstrap; `obflow dag reset` refuses bad
// input plainly, resets the FAILED DAG to a stage (the new run shows through every agent at once,
// the wait ends like `dag retry`'s), refuses a running DAG, and a reset whose stages succeed ends
// the init with the cluster initialized. In between, every `temporal` command README.md shows
// runs as written against the same DAG.
func TestResetAndTemporalCLI(t *testing.T) {
	f := newFailedInit(t, "127.0.0.50")
	notFound, _ := obshell.EncodeLocalID(obcluster.Agent{IP: f.master().IP, Port: 2886}, 99999)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no stage", []string{"dag", "reset", f.id}, exitUsage, "--stage is required"},
		{"stage out of range", []string{"dag", "reset", f.id, "--stage", "12"}, exitUsage, `stage 12 is out of range: DAG ` + f.id + ` "Initialize cluster" has stages 1 to 11`},
		{"negative stage", []string{"dag", "reset", f.id, "--stage", "-1"}, exitUsage, "stage -1 is out of range"},
		{"unknown DAG", []string{"dag", "reset", notFound, "--stage", "1"}, exitNotFound, "Task not found"},
		{"finished DAG", []string{"dag", "reset", f.joinID, "--stage", "1"}, exitUsage, `"Join self" has finished (SUCCEED/RUN): its maintenance lock is released`},
		{"bad id", []string{"dag", "reset", "xyz", "--stage", "1"}, exitUsage, "is not a DAG id"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkOneLineError(t, run(t, f.env, tc.args...), tc.code, tc.msg) })
	}

	// Reset to stage 3 while the bootstrap still fails: stage 3 runs again in a new run, stage 4
	// fails again, and the command says so like `dag retry` (exit 3).
	oldRun, _ := f.run(t)
	before := time.Now()
	res := run(t, f.env, "dag", "reset", f.id, "--stage", "3", "--reason", "start the observers again", "--poll", "200ms")
	if res.code != exitDagFailed || !strings.Contains(res.stderr, "simulated bootstrap failure") {
		t.Errorf("reset to stage 3 with the fault on: exit %d, stderr %q", res.code, res.stderr)
	}
	newRun, _ := f.run(t)
	if newRun == oldRun || !strings.Contains(res.stdout, `DAG `+f.id+` "Initialize cluster" reset to stage 3/11 Start observer: new run `+newRun+` (was `+oldRun) {
		t.Errorf("reset output does not name the new run %s (old %s):\n%s", newRun, oldRun, res.stdout)
	}
	d := f.waitState(t, obcluster.StateFailed)
	if d.Stage != 4 || len(d.Nodes) != 11 {
		t.Fatalf("after the reset to stage 3: stage %d, %d nodes", d.Stage, len(d.Nodes))
	}
	for _, st := range d.Nodes[2].SubTasks {
		if st.State != obcluster.StateSucceed || st.StartTime.Before(before) {
			t.Errorf("stage 3 on %s: %s, started %s, want it run again after %s", st.ExecuteAgent, st.State, st.StartTime, before)
		}
	}
	if !d.Nodes[1].SubTasks[0].StartTime.Before(before) {
		t.Errorf("stage 2 ran again: started %s", d.Nodes[1].SubTasks[0].StartTime)
	}

	t.Run("README temporal commands", func(t *testing.T) { runREADMETemporalCommands(t, f) })

	// A reset whose stages succeed: the new run shows through every agent as soon as the command
	// returns, a second reset of the running DAG is refused, and the init ends SUCCEED with the
	// cluster initialized (the registry follows the new run).
	f.setFaults(t, obsim.Faults{BootstrapDelayMS: 5000})
	res = run(t, f.env, "dag", "reset", f.id, "--stage", "4", "--no-wait")
	if res.code != 0 {
		t.Fatalf("reset --no-wait: exit %d", res.code)
	}
	f.checkNewRun(t, "right after obflow dag reset")
	checkOneLineError(t, run(t, f.env, "dag", "reset", f.id, "--stage", "2"), exitUsage, "is RUNNING at stage")
	watch := run(t, f.env, "dag", "watch", f.id, "--poll", "200ms")
	if watch.code != 0 || !strings.Contains(watch.stdout, "SUCCEED/RUN, stage 11/11") {
		t.Fatalf("the reset init did not finish: %d\n%s", watch.code, watch.stdout)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info := run(t, nil, "agent", "info", f.master().Agent())
		if strings.Contains(info.stdout, "CLUSTER AGENT") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the master is not a CLUSTER AGENT after the reset init succeeded:\n%s", info.stdout)
		}
		time.Sleep(time.Second)
	}
}

// The README's example values, replaced by the dev stack's.
const (
	readmeDagID = "22130706434028861"
	readmeAgent = "127.0.0.2:2886"
	readmeCodec = "http://127.0.0.1:8234"
)

var reEventID = regexp.MustCompile(`--event-id \d+`)

// readmeTemporalCommands are the lines of README.md's sh blocks that run the temporal CLI.
func readmeTemporalCommands(t *testing.T) []string {
	t.Helper()
	fh, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var cmds []string
	inSh := false
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "```"):
			inSh = !inSh && strings.TrimPrefix(l, "```") == "sh"
		case inSh && strings.HasPrefix(l, "temporal "):
			cmds = append(cmds, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// runREADMETemporalCommands runs each temporal command of README.md through sh, with the
// example DAG id, agent, codec endpoint and event id replaced by the stack's and TEMPORAL_ADDRESS
// set, and checks its output and the DAG the API shows after it. A command this test does not
// know fails it: a new one in the README needs a check here.
func runREADMETemporalCommands(t *testing.T, f *failedInit) {
	bin, err := exec.LookPath("temporal")
	if err != nil {
		t.Skip("the temporal CLI is not on PATH (scripts/install-temporal-cli.sh installs it into $(go env GOPATH)/bin)")
	}
	t.Logf("temporal CLI: %s", bin)
	cmds := readmeTemporalCommands(t)
	if len(cmds) < 6 {
		t.Fatalf("README.md shows %d temporal commands, want the list, show, describe, update and reset ones:\n%s", len(cmds), strings.Join(cmds, "\n"))
	}
	_, events := f.run(t)
	point, err := workflows.ResetPoint(events, 4)
	if err != nil {
		t.Fatal(err)
	}
	wid := workflows.WorkflowID(f.id)
	for _, readme := range cmds {
		cmd := strings.NewReplacer(readmeDagID, f.id, readmeAgent, f.master().Agent(), readmeCodec, f.codec).Replace(readme)
		cmd = reEventID.ReplaceAllString(cmd, "--event-id "+strconv.FormatInt(point, 10))
		runBefore, _ := f.run(t)
		out := runTemporal(t, f, cmd)
		switch {
		case strings.HasPrefix(readme, "temporal workflow list "):
			// Visibility follows the history a moment later.
			for i := 0; !strings.Contains(out, wid) && i < 20; i++ {
				time.Sleep(250 * time.Millisecond)
				out = runTemporal(t, f, cmd)
			}
			if !strings.Contains(out, wid) {
				t.Errorf("%s: %s is not listed", cmd, wid)
			}
		case strings.HasPrefix(readme, "temporal workflow show ") && strings.Contains(readme, "--detailed"):
			if !strings.Contains(out, "input[0].plan.dagName: Initialize cluster") {
				t.Errorf("%s: no decoded plan in the history", cmd)
			}
		case strings.HasPrefix(readme, "temporal workflow describe "):
			if !strings.Contains(out, `"Initialize cluster (DAG `) {
				t.Errorf("%s: no decoded summary", cmd)
			}
		case strings.HasPrefix(readme, "temporal workflow update execute ") && strings.Contains(readme, "--name RETRY"):
			if !strings.Contains(out, "state:RUNNING") {
				t.Errorf("%s: the answer is not the RUNNING status", cmd)
			}
			if d := f.waitState(t, obcluster.StateFailed); d.Stage != 4 || d.Nodes[3].SubTasks[0].ExecuteTimes < 2 {
				t.Errorf("after RETRY: stage %d, bootstrap run %d times", d.Stage, d.Nodes[3].SubTasks[0].ExecuteTimes)
			}
		case strings.HasPrefix(readme, "temporal workflow reset ") && strings.Contains(readme, "--event-id"):
			if runAfter, _ := f.run(t); runAfter == runBefore {
				t.Errorf("%s: no new run", cmd)
			}
			f.checkNewRun(t, cmd)
			if d := f.waitState(t, obcluster.StateFailed); d.Stage != 4 || d.Nodes[3].SubTasks[0].ExecuteTimes != 1 {
				t.Errorf("after the reset to stage 4: stage %d, bootstrap run %d times in the new run", d.Stage, d.Nodes[3].SubTasks[0].ExecuteTimes)
			}
		case strings.HasPrefix(readme, "temporal workflow reset ") && strings.Contains(readme, "--type LastWorkflowTask"):
			if runAfter, _ := f.run(t); runAfter == runBefore {
				t.Errorf("%s: no new run", cmd)
			}
			if d := f.waitState(t, obcluster.StateFailed); d.Stage != 4 {
				t.Errorf("after the reset to the last workflow task: stage %d", d.Stage)
			}
		default:
			t.Errorf("README command %q has no check in this test", readme)
		}
	}
}

// runTemporal runs one temporal command line through sh and wants exit 0.
func runTemporal(t *testing.T, f *failedInit, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(cleanEnv(), "TEMPORAL_ADDRESS="+f.address, "TEMPORAL_NAMESPACE="+f.namespace)
	out, err := c.CombinedOutput()
	t.Logf("$ %s\n%s", cmd, out)
	if err != nil {
		t.Errorf("%s: %v", cmd, err)
	}
	return string(out)
}
