package worker

import (
	"context"
	"github.com/obflow/obflow/internal/obcluster"
	"os"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/obsim"
	"github.com/obflow/obflow/workflows"
)

// TestInitCluster is the full init: SUCCEED, every action once, obshell's
// command lines, the new root password on every host, and no password in
// plain text anywhere in the raw history.
func TestInitCluster(t *testing.T) {
	c := newCluster(t)
	c.startWorkers()
	ctx := context.Background()
	start := time.Now()
	run, in := c.startInit(ctx, workflows.PlanOptions{})
	res := waitResult(t, run, 2*time.Minute)
	t.Logf("init took %s", time.Since(start))
	if res.State != obcluster.StateSucceed || res.Operator != obcluster.OperatorRun || res.Stage != in.Plan.MaxStage() || res.MaxStage != 11 {
		t.Fatalf("result %+v", res)
	}
	c.checkInitialized(t)
	if n := c.counters(); n.Bootstrap != 1 {
		t.Errorf("%d BOOTSTRAP statements, want 1", n.Bootstrap)
	}
	events := history(t, run)
	checkNoPlaintext(t, events, rootPassword)
	acts := activitiesOf(t, events)
	// Every sub-task completed once, with its logs.
	for s := 1; s <= in.Plan.MaxStage(); s++ {
		for _, id := range stageIDs(in, s, 1, workflows.KindRun) {
			r := acts[id]
			if r == nil || !r.Completed {
				t.Errorf("sub-task %s did not complete: %+v", id, r)
			}
		}
	}
}

// TestCrashMatrix kills, for every stage in turn, the worker process that
// runs it with SIGKILL while the stage runs (its first attempt is held
// after its side effects), starts the process again, and expects the init
// to SUCCEED with every action done once.
func TestCrashMatrix(t *testing.T) {
	c := newCluster(t)
	c.slow = 1500 * time.Millisecond
	c.startWorkers()
	ctx := context.Background()
	run, in := c.startInit(ctx, testOptions())

	// Which worker each stage runs on; host stages kill one host in turn.
	victim := func(s int) int {
		st := in.Plan.Stages[s-1]
		if !st.Parallel {
			return -1
		}
		return s % len(c.hosts)
	}
	for s := 1; s <= in.Plan.MaxStage(); s++ {
		id := stageIDs(in, s, 1, workflows.KindRun)[max(victim(s), 0)]
		if !waitStarted(t, run, id, time.Minute) {
			t.Fatalf("stage %d (%s) never ran", s, in.Plan.Stages[s-1].Name)
		}
		v := victim(s)
		if v < 0 {
			c.coord.kill()
		} else {
			c.hostW[v].kill()
		}
		t.Logf("stage %d %q: killed %s worker", s, in.Plan.Stages[s-1].Name, map[bool]string{true: "coordinator", false: c.hosts[max(v, 0)].Agent.String()}[v < 0])
		c.restart(v)
	}
	res := waitResult(t, run, 3*time.Minute)
	if res.State != obcluster.StateSucceed || res.Operator != obcluster.OperatorRun {
		t.Fatalf("result %+v", res)
	}
	c.checkInitialized(t)
	// Every killed sub-task really lost its first attempt and was redone.
	acts := activitiesOf(t, history(t, run))
	for s := 1; s <= in.Plan.MaxStage(); s++ {
		id := stageIDs(in, s, 1, workflows.KindRun)[max(victim(s), 0)]
		if r := acts[id]; r == nil || !r.Completed || r.Attempt < 2 {
			t.Errorf("stage %d sub-task %s: %+v, want completed by a second attempt", s, id, r)
		}
	}
}

// TestLongBootstrap: a BOOTSTRAP that takes longer than the stage's
// heartbeat timeout (the production plan's) is waited for in the first
// attempt: the stage heartbeats while the statement runs, and no client
// deadline ends it.
func TestLongBootstrap(t *testing.T) {
	c := newCluster(t)
	hold := 15 * time.Second
	if err := obsim.WriteFaults(c.hosts[0].HomePath, obsim.Faults{BootstrapDelayMS: int(hold / time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	c.startWorkers()
	run, in := c.startInit(context.Background(), workflows.PlanOptions{})
	boot := stageOf(in, activities.ClusterBootstrapName)
	if o := in.Plan.Stages[boot-1].Options; o == nil || o.Heartbeat == 0 || o.Heartbeat >= hold {
		t.Fatalf("the bootstrap stage's heartbeat timeout %+v is not shorter than the %v BOOTSTRAP", o, hold)
	}
	res := waitResult(t, run, 3*time.Minute)
	if res.State != obcluster.StateSucceed {
		t.Fatalf("result %+v", res)
	}
	c.checkInitialized(t)
	rec := activitiesOf(t, history(t, run))[stageIDs(in, boot, 1, workflows.KindRun)[0]]
	if rec == nil || !rec.Completed || rec.Attempt != 1 {
		t.Fatalf("bootstrap sub-task %+v, want completed by its first attempt", rec)
	}
	if n := c.counters(); n.Bootstrap != 1 {
		t.Errorf("%d BOOTSTRAP statements, want 1", n.Bootstrap)
	}
}

// TestRealProfile is the init with the production plan against observers
// with a real observer's durations (the simulator's "real" profile: start
// 20 s, BOOTSTRAP 2 min, ADD SERVER 3 s, LOAD MODULE DATA 30 s): every
// stage finishes in its first attempt. It takes about 3.5 minutes of
// mostly waiting, so `go test -short` skips it.
func TestRealProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 3.5 minutes (a real observer's durations); run without -short")
	}
	c := newCluster(t)
	c.importScript = true
	for _, h := range c.hosts {
		if err := obsim.WriteFaults(h.HomePath, obsim.Faults{Profile: obsim.ProfileReal}); err != nil {
			t.Fatal(err)
		}
	}
	c.startWorkers()
	start := time.Now()
	run, in := c.startInit(context.Background(), workflows.PlanOptions{})
	res := waitResult(t, run, 10*time.Minute)
	t.Logf("init under the real profile took %s", time.Since(start).Round(time.Second))
	if res.State != obcluster.StateSucceed {
		t.Fatalf("result %+v", res)
	}
	c.checkInitialized(t)
	acts := activitiesOf(t, history(t, run))
	for s := 1; s <= in.Plan.MaxStage(); s++ {
		for _, id := range stageIDs(in, s, 1, workflows.KindRun) {
			if r := acts[id]; r == nil || !r.Completed || r.Attempt != 1 {
				t.Errorf("stage %d (%s) sub-task %s: %+v, want completed by its first attempt", s, in.Plan.Stages[s-1].Name, id, r)
			}
		}
	}
	if n := c.counters(); n.Bootstrap != 1 {
		t.Errorf("%d BOOTSTRAP statements, want 1", n.Bootstrap)
	}
}

// waitStarted waits until the activity id has a started attempt.
func waitStarted(t *testing.T, run client.WorkflowRun, id string, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		d, err := env.client.DescribeWorkflowExecution(context.Background(), run.GetID(), run.GetRunID())
		if err == nil {
			for _, pa := range d.GetPendingActivities() {
				if pa.GetActivityId() == id && pa.GetLastStartedTime() != nil && pa.GetAttempt() == 1 {
					return true
				}
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return false
}

// TestServerCrash kills the Temporal server with SIGKILL while observers
// start, restarts it on the same data dir, and expects the init to finish.
func TestServerCrash(t *testing.T) {
	c := newCluster(t)
	for _, h := range c.hosts {
		if err := obsim.WriteFaults(h.HomePath, obsim.Faults{StartDelayMS: 2000}); err != nil {
			t.Fatal(err)
		}
	}
	c.startWorkers()
	run, in := c.startInit(context.Background(), testOptions())
	id := stageIDs(in, stageOf(in, activities.StartObserverName), 1, workflows.KindRun)[0]
	if !waitStarted(t, run, id, time.Minute) {
		t.Fatal("start observer never ran")
	}
	env.server.kill()
	t.Log("temporal server killed during Start observer")
	srv, err := startServer()
	if err != nil {
		t.Fatal(err)
	}
	env.server = srv
	res := waitResult(t, run, 3*time.Minute)
	if res.State != obcluster.StateSucceed {
		t.Fatalf("result %+v", res)
	}
	c.checkInitialized(t)
}

// TestBootstrapFaultRetry: a failing BOOTSTRAP leaves the DAG FAILED at
// "Cluster boostrap" with an ERROR last log line; PASS and the wrong
// operators are refused with CONTRACT.md §6.4's codes; after the fault is
// removed, RETRY ends SUCCEED with BOOTSTRAP done once.
func TestBootstrapFaultRetry(t *testing.T) {
	c := newCluster(t)
	master := c.hosts[0].HomePath
	if err := obsim.WriteFaults(master, obsim.Faults{BootstrapError: &obsim.SQLErrorSpec{Code: 4012, Message: "bootstrap timeout (simulated)"}}); err != nil {
		t.Fatal(err)
	}
	c.startWorkers()
	ctx := context.Background()
	run, in := c.startInit(ctx, workflows.PlanOptions{})

	// Operators on a running DAG.
	for op, code := range map[obcluster.Operator]string{
		obcluster.OperatorRetry:    workflows.ErrCodeRetryNotFailedDag,
		obcluster.OperatorRollback: workflows.ErrCodeRollbackNotFailedDag,
		obcluster.OperatorPass:     workflows.ErrCodePassNotFailedDag,
	} {
		if err := operate(ctx, run, op.String()); errType(err) != code {
			// The DAG may already have failed; only a running DAG is checked here.
			if st, _ := status(ctx, run); st.State != obcluster.StateFailed {
				t.Errorf("%s on a running DAG: %v, want %s", op, err, code)
			}
		}
	}

	st := waitState(t, run, obcluster.StateFailed, 2*time.Minute)
	boot := stageOf(in, activities.ClusterBootstrapName)
	if st.Stage != boot {
		t.Fatalf("failed at stage %d, want %d (%s)", st.Stage, boot, activities.ClusterBootstrapName)
	}
	rec := activitiesOf(t, history(t, run))[stageIDs(in, boot, 1, workflows.KindRun)[0]]
	if rec == nil || !strings.HasPrefix(rec.lastLog(), "ERROR: [") || !strings.Contains(rec.lastLog(), "bootstrap failed") {
		t.Fatalf("last log of the failed bootstrap: %+v", rec)
	}
	t.Logf("last log: %s (logs before: %q)", rec.lastLog(), rec.Logs)

	for op, code := range map[obcluster.Operator]string{
		obcluster.OperatorPass:   workflows.ErrCodePassNotAllowed,
		obcluster.OperatorCancel: workflows.ErrCodeCancelFinishedDag,
	} {
		if err := operate(ctx, run, op.String()); errType(err) != code {
			t.Errorf("%s on a failed DAG: %v, want %s", op, err, code)
		}
	}
	if err := operate(ctx, run, "FOO"); err == nil {
		t.Error("unknown operator FOO accepted")
	}

	if err := obsim.WriteFaults(master, obsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if err := operate(ctx, run, obcluster.OperatorRetry.String()); err != nil {
		t.Fatalf("RETRY: %v", err)
	}
	res := waitResult(t, run, 2*time.Minute)
	if res.State != obcluster.StateSucceed || res.Operator != obcluster.OperatorRun {
		t.Fatalf("result %+v", res)
	}
	n := c.counters()
	if n.Bootstrap != 2 || n.BootstrapOK != 1 || n.AddServerOK != 1 || n.AlterUserOK != 1 || n.AlterUser != 1 {
		t.Fatalf("counters %+v: want one failed and one successful BOOTSTRAP, the rest once", n)
	}
	for i, h := range c.hosts {
		if err := obsim.Login(context.Background(), h.Agent.IP+":2881", "root", rootPassword); err != nil {
			t.Errorf("host %d: %v", i, err)
		}
	}
}

// TestStartFaultRollback: one observer exits during start; the stage fails
// only after its siblings finished; ROLLBACK stops every observer, removes
// the work dirs, and ends SUCCEED with operator ROLLBACK.
func TestStartFaultRollback(t *testing.T) {
	c := newCluster(t)
	bad := 2
	if err := obsim.WriteFaults(c.hosts[bad].HomePath, obsim.Faults{ExitDuringStart: 7}); err != nil {
		t.Fatal(err)
	}
	// The healthy ones take a while, so the fault comes first.
	for _, i := range []int{0, 1} {
		if err := obsim.WriteFaults(c.hosts[i].HomePath, obsim.Faults{StartDelayMS: 5000}); err != nil {
			t.Fatal(err)
		}
	}
	c.startWorkers()
	ctx := context.Background()
	run, in := c.startInit(ctx, workflows.PlanOptions{})
	st := waitState(t, run, obcluster.StateFailed, 2*time.Minute)
	startStage := stageOf(in, activities.StartObserverName)
	if st.Stage != startStage {
		t.Fatalf("failed at stage %d, want %d", st.Stage, startStage)
	}
	acts := activitiesOf(t, history(t, run))
	ids := stageIDs(in, startStage, 1, workflows.KindRun)
	failedAt := acts[ids[bad]].Done
	for i, id := range ids {
		r := acts[id]
		if i == bad {
			if r.Completed || !strings.HasPrefix(r.lastLog(), "ERROR: [") {
				t.Fatalf("faulty host's sub-task: %+v", r)
			}
			t.Logf("faulty host: %s", r.lastLog())
			continue
		}
		// The DAG failed only after this sibling finished (it was slower).
		if !r.Completed || r.Done.Before(failedAt) {
			t.Fatalf("sibling %s: %+v, faulty one done at %s", id, r, failedAt)
		}
		if len(observerPIDs(c.hosts[i].HomePath)) != 1 {
			t.Fatalf("sibling %s has no running observer", c.hosts[i].Agent)
		}
	}
	if err := operate(ctx, run, obcluster.OperatorRollback.String()); err != nil {
		t.Fatalf("ROLLBACK: %v", err)
	}
	res := waitResult(t, run, 2*time.Minute)
	if res.State != obcluster.StateSucceed || res.Operator != obcluster.OperatorRollback {
		t.Fatalf("result %+v", res)
	}
	for _, h := range c.hosts {
		if n := len(observerPIDs(h.HomePath)); n != 0 {
			t.Errorf("%s: %d observers still running", h.Agent, n)
		}
		for _, d := range []string{"store", "log", "etc/observer.config.bin"} {
			if _, err := os.Lstat(h.HomePath + "/" + d); !os.IsNotExist(err) {
				t.Errorf("%s: %s not removed (%v)", h.Agent, d, err)
			}
		}
	}
}

// TestCancelDuringHealthWait: CANCEL while observers start ends the DAG
// FAILED with operator CANCEL.
func TestCancelDuringHealthWait(t *testing.T) {
	c := newCluster(t)
	if err := obsim.WriteFaults(c.hosts[1].HomePath, obsim.Faults{StartDelayMS: 120000}); err != nil {
		t.Fatal(err)
	}
	c.startWorkers()
	ctx := context.Background()
	run, in := c.startInit(ctx, workflows.PlanOptions{})
	id := stageIDs(in, stageOf(in, activities.StartObserverName), 1, workflows.KindRun)[1]
	if !waitStarted(t, run, id, time.Minute) {
		t.Fatal("start observer never ran")
	}
	time.Sleep(300 * time.Millisecond) // inside the health wait
	if err := operate(ctx, run, obcluster.OperatorCancel.String()); err != nil {
		t.Fatalf("CANCEL: %v", err)
	}
	st := waitState(t, run, obcluster.StateFailed, time.Minute)
	if st.Operator != obcluster.OperatorCancel {
		t.Fatalf("status %+v, want FAILED/CANCEL", st)
	}
	// Canceled, not waiting out the 120 s start delay.
	d, err := env.client.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.GetPendingActivities()); n != 0 {
		t.Fatalf("%d activities still pending after CANCEL", n)
	}
}

// TestAgentNeverComesUp: no worker polls one host's queue; its sub-task
// fails naming the host.
func TestAgentNeverComesUp(t *testing.T) {
	c := newCluster(t)
	c.startWorkers(0, 1)
	ctx := context.Background()
	opts := workflows.PlanOptions{Defaults: workflows.ActivityOptions{ScheduleToStart: 2 * time.Second}}
	run, in := c.startInit(ctx, opts)
	st := waitState(t, run, obcluster.StateFailed, time.Minute)
	if st.Stage != stageOf(in, activities.CreateWorkdirName) {
		t.Fatalf("failed at stage %d", st.Stage)
	}
	acts := activitiesOf(t, history(t, run))
	r := acts[stageIDs(in, st.Stage, 1, workflows.KindRun)[2]]
	if r == nil || !strings.Contains(r.lastLog(), c.hosts[2].Agent.String()) || !strings.HasPrefix(r.lastLog(), "ERROR: [") {
		t.Fatalf("sub-task of the missing agent: %+v", r)
	}
	t.Logf("last log: %s", r.lastLog())
}

// TestResetAfterLastCompletedStage: a DAG failed at bootstrap is reset
// (what `temporal workflow reset` does) to the workflow task after its last
// completed stage; the new run re-runs from bootstrap and succeeds without
// restarting the observers or repeating any action.
func TestResetAfterLastCompletedStage(t *testing.T) {
	c := newCluster(t)
	master := c.hosts[0].HomePath
	if err := obsim.WriteFaults(master, obsim.Faults{BootstrapError: &obsim.SQLErrorSpec{Code: 4012, Message: "bootstrap timeout (simulated)"}}); err != nil {
		t.Fatal(err)
	}
	c.startWorkers()
	ctx := context.Background()
	run, in := c.startInit(ctx, workflows.PlanOptions{})
	waitState(t, run, obcluster.StateFailed, 2*time.Minute)
	pids := map[string]map[int][]string{}
	for _, h := range c.hosts {
		pids[h.HomePath] = observerPIDs(h.HomePath)
	}
	if err := obsim.WriteFaults(master, obsim.Faults{}); err != nil {
		t.Fatal(err)
	}

	// The workflow task completed right after stage 3's last completion.
	events := history(t, run)
	startIDs := stageIDs(in, stageOf(in, activities.StartObserverName), 1, workflows.KindRun)
	sched := map[int64]string{}
	var lastDone, resetTo int64
	for _, e := range events {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			sched[e.GetEventId()] = a.GetActivityId()
		}
		if a := e.GetActivityTaskCompletedEventAttributes(); a != nil {
			for _, id := range startIDs {
				if sched[a.GetScheduledEventId()] == id {
					lastDone = e.GetEventId()
				}
			}
		}
		if e.GetWorkflowTaskCompletedEventAttributes() != nil && lastDone > 0 && resetTo == 0 && e.GetEventId() > lastDone {
			resetTo = e.GetEventId()
		}
	}
	if resetTo == 0 {
		t.Fatal("no workflow task after Start observer")
	}
	resp, err := env.client.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 "default",
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: run.GetID(), RunId: run.GetRunID()},
		Reason:                    "test: re-run from the last completed stage",
		WorkflowTaskFinishEventId: resetTo,
		RequestId:                 run.GetRunID() + "-reset",
	})
	if err != nil {
		t.Fatal(err)
	}
	newRun := env.client.GetWorkflow(ctx, run.GetID(), resp.GetRunId())
	res := waitResult(t, newRun, 2*time.Minute)
	if res.State != obcluster.StateSucceed {
		t.Fatalf("result %+v", res)
	}
	for _, h := range c.hosts {
		now := observerPIDs(h.HomePath)
		for pid := range pids[h.HomePath] {
			if _, ok := now[pid]; !ok || len(now) != 1 {
				t.Errorf("%s: observers %v after reset, want the same pid %d", h.Agent, now, pid)
			}
		}
	}
	n := c.counters()
	if n.BootstrapOK != 1 || n.AddServer != 1 || n.AlterUser != 1 {
		t.Fatalf("counters %+v", n)
	}
	// The new run scheduled nothing of stages 1-3 after the reset point.
	for _, e := range history(t, newRun) {
		a := e.GetActivityTaskScheduledEventAttributes()
		if a == nil || e.GetEventId() <= resetTo {
			continue
		}
		if id, err := workflows.ParseActivityID(a.GetActivityId()); err == nil && id.Stage <= 3 {
			t.Errorf("reset run scheduled %s again", a.GetActivityId())
		}
	}
}
