package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obsim"
	"github.com/obflow/obflow/workflows"
)

const rootPassword = `Root'Pw"2026\x`

// hostIPs are the simulated hosts; zones: zone1 = .2 and .4, zone2 = .3,
// so an init bootstraps two zones and adds one server.
var hostIPs = []string{"127.0.6.2", "127.0.6.3", "127.0.6.4"}

func zoneOf(i int) string { return []string{"zone1", "zone2", "zone1"}[i] }

// cluster is one simulated 3-host cluster with its workers.
type cluster struct {
	t     testing.TB
	hosts []obcluster.Host
	coord *proc
	hostW []*proc
	slow  time.Duration
	// importScript adds "Import script for tenant" to the plan.
	importScript bool
}

var dagSeq atomic.Int64

// newCluster installs the simulator in fresh homes. Workers are started
// by startWorkers.
func newCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{t: t}
	base, err := os.MkdirTemp(env.root, "cluster-")
	if err != nil {
		t.Fatal(err)
	}
	for i, ip := range hostIPs {
		home := filepath.Join(base, fmt.Sprintf("host%d", i+1))
		if err := obsim.Install(home); err != nil {
			t.Fatal(err)
		}
		c.hosts = append(c.hosts, obcluster.Host{Agent: obcluster.Agent{IP: ip, Port: agentPort}, Zone: zoneOf(i), HomePath: home})
	}
	t.Cleanup(func() {
		for _, h := range c.hosts {
			killObservers(h.HomePath)
		}
	})
	return c
}

// startWorkers starts the coordinator and the host workers of the hosts
// given by index (all when none).
func (c *cluster) startWorkers(hosts ...int) {
	c.t.Helper()
	if len(hosts) == 0 {
		hosts = []int{0, 1, 2}
	}
	c.hostW = make([]*proc, len(c.hosts))
	c.coord = c.start("coordinator", -1)
	for _, i := range hosts {
		c.hostW[i] = c.start("host", i)
	}
	for _, p := range append([]*proc{c.coord}, c.hostW...) {
		if p == nil {
			continue
		}
		if err := p.waitReady(time.Minute); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *cluster) start(role string, host int) *proc {
	c.t.Helper()
	extra := map[string]string{addrEnv: env.hostPort, keyFileEnv: env.keyFile}
	if c.slow > 0 {
		extra[slowEnv] = c.slow.String()
	}
	if host >= 0 {
		extra[hostIPEnv] = c.hosts[host].Agent.IP
		extra[homeEnv] = c.hosts[host].HomePath
	}
	var t *testing.T
	if tt, ok := c.t.(*testing.T); ok {
		t = tt
	}
	p, err := startProc(role, t, extra)
	if err != nil {
		c.t.Fatal(err)
	}
	if t == nil {
		c.t.Cleanup(p.kill)
	}
	return p
}

// restart replaces a worker process (after a kill) and waits until it polls.
func (c *cluster) restart(host int) {
	c.t.Helper()
	role := "host"
	if host < 0 {
		role = "coordinator"
	}
	p := c.start(role, host)
	if err := p.waitReady(time.Minute); err != nil {
		c.t.Fatal(err)
	}
	if host < 0 {
		c.coord = p
	} else {
		c.hostW[host] = p
	}
}

func (c *cluster) topology() workflows.Topology {
	return workflows.Topology{
		Cluster:      obcluster.ClusterConfig{Name: "obcluster", ID: 42},
		RootPassword: rootPassword,
		Master:       c.hosts[0].Agent,
		Hosts:        c.hosts,
		ImportScript: c.importScript,
		Observer: obcluster.ObserverConfig{Global: map[string]obcluster.ConfigValue{
			"memory_limit": {Value: "6G", Revision: 1}, "system_memory": {Value: "1G", Revision: 1},
		}},
	}
}

// startInit starts an "Initialize cluster" workflow and returns its id.
func (c *cluster) startInit(ctx context.Context, opts workflows.PlanOptions) (client.WorkflowRun, workflows.InitializeClusterInput) {
	c.t.Helper()
	in, err := workflows.NewInitializeClusterInput(dagSeq.Add(1)+time.Now().Unix()%100000*100, c.topology(), opts)
	if err != nil {
		c.t.Fatal(err)
	}
	gid, err := obshell.LocalGenericID(obcluster.Agent{IP: c.hosts[0].Agent.IP, Port: agentPort}, in.Plan.DagID)
	if err != nil {
		c.t.Fatal(err)
	}
	run, err := env.client.ExecuteWorkflow(ctx, workflows.StartWorkflowOptions(gid.String(), in.Plan), workflows.InitializeClusterName, in)
	if err != nil {
		c.t.Fatal(err)
	}
	// A DAG left FAILED waits days for an operator; end it with the test.
	c.t.Cleanup(func() {
		_ = env.client.TerminateWorkflow(context.Background(), run.GetID(), "", "test over")
	})
	return run, in
}

// testOptions give every stage a heartbeat timeout, so a killed worker is
// noticed in seconds whatever stage it ran, and quick retries.
func testOptions() workflows.PlanOptions {
	return workflows.PlanOptions{Defaults: workflows.ActivityOptions{
		Heartbeat:       3 * time.Second,
		InitialInterval: 100 * time.Millisecond,
		MaximumInterval: time.Second,
		MaximumAttempts: 10,
	}}
}

// status queries the DAG's state from its workflow.
func status(ctx context.Context, run client.WorkflowRun) (workflows.DagStatus, error) {
	v, err := env.client.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), workflows.QueryStatus)
	if err != nil {
		return workflows.DagStatus{}, err
	}
	var s workflows.DagStatus
	err = v.Get(&s)
	return s, err
}

// waitState polls until the DAG is in state (FAILED waits for an
// operator, so only a query sees it).
func waitState(t testing.TB, run client.WorkflowRun, state obcluster.State, within time.Duration) workflows.DagStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var last workflows.DagStatus
	var lastErr error
	for ctx.Err() == nil {
		qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
		last, lastErr = status(qctx, run)
		qcancel()
		if lastErr == nil && last.State == state {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("DAG %s not %s within %s: last %+v, %v", run.GetID(), state, within, last, lastErr)
	return last
}

// waitResult waits for the workflow to close with the DAG's result.
func waitResult(t testing.TB, run client.WorkflowRun, within time.Duration) workflows.DagResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var res workflows.DagResult
	if err := run.Get(ctx, &res); err != nil {
		st, _ := status(context.Background(), run)
		t.Fatalf("DAG %s did not complete: %v (status %+v)", run.GetID(), err, st)
	}
	return res
}

// operate sends an obshell operator (an Update) and waits for acceptance.
func operate(ctx context.Context, run client.WorkflowRun, op string) error {
	h, err := env.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: run.GetID(), RunID: run.GetRunID(), UpdateName: op, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

// errType is the ApplicationError type of err ("" if none).
func errType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

// history returns the raw events of a run.
func history(t testing.TB, run client.WorkflowRun) []*historypb.HistoryEvent {
	t.Helper()
	it := env.client.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// activityRecord is what history says about one activity id.
type activityRecord struct {
	Type      string
	Scheduled time.Time
	Done      time.Time
	Completed bool
	Attempt   int32 // of the last execution (ActivityTaskStarted)
	ErrCode   string
	Message   string
	Logs      []string
}

// activitiesOf indexes a history by activity id (the last execution of
// each id wins), and adds the errCode of SubTaskFailure markers.
func activitiesOf(t testing.TB, events []*historypb.HistoryEvent) map[string]*activityRecord {
	t.Helper()
	byID := map[string]*activityRecord{}
	bySched := map[int64]*activityRecord{}
	for _, e := range events {
		switch {
		case e.GetActivityTaskScheduledEventAttributes() != nil:
			a := e.GetActivityTaskScheduledEventAttributes()
			r := &activityRecord{Type: a.GetActivityType().GetName(), Scheduled: e.GetEventTime().AsTime()}
			byID[a.GetActivityId()] = r
			bySched[e.GetEventId()] = r
		case e.GetActivityTaskStartedEventAttributes() != nil:
			a := e.GetActivityTaskStartedEventAttributes()
			if r := bySched[a.GetScheduledEventId()]; r != nil {
				r.Attempt = a.GetAttempt()
			}
		case e.GetActivityTaskCompletedEventAttributes() != nil:
			if r := bySched[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; r != nil {
				r.Completed, r.Done = true, e.GetEventTime().AsTime()
			}
		case e.GetActivityTaskFailedEventAttributes() != nil:
			a := e.GetActivityTaskFailedEventAttributes()
			r := bySched[a.GetScheduledEventId()]
			if r == nil {
				continue
			}
			r.Done = e.GetEventTime().AsTime()
			f := a.GetFailure()
			r.Message = f.GetMessage()
			if info := f.GetApplicationFailureInfo(); info != nil {
				r.ErrCode = info.GetType()
				if p := info.GetDetails().GetPayloads(); len(p) > 0 {
					var logs []string
					if err := decodePayload(p[0], &logs); err == nil {
						r.Logs = logs
					}
				}
			}
		case e.GetActivityTaskTimedOutEventAttributes() != nil:
			if r := bySched[e.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId()]; r != nil {
				r.Done = e.GetEventTime().AsTime()
			}
		case e.GetMarkerRecordedEventAttributes() != nil:
			f, ok, err := workflows.DecodeSubTaskFailure(e.GetMarkerRecordedEventAttributes(), dataConverter())
			if err == nil && ok {
				if r := byID[f.ActivityID]; r != nil {
					r.ErrCode, r.Message = f.ErrCode, f.Message
				}
			}
		}
	}
	return byID
}

// lastLog is the sub-task's last task_logs line as obshell would show it.
func (r *activityRecord) lastLog() string {
	if r.ErrCode != "" {
		return workflows.ErrorLogLine(r.ErrCode, r.Message)
	}
	if len(r.Logs) > 0 {
		return r.Logs[len(r.Logs)-1]
	}
	return ""
}

// stageIDs lists the activity ids of stage s's runs in round.
func stageIDs(in workflows.InitializeClusterInput, s, round int, kind workflows.Kind) []string {
	var ids []string
	for _, t := range in.Plan.Stages[s-1].Targets {
		ids = append(ids, workflows.ActivityID{Stage: s, Kind: kind, Round: round, Agent: t.Agent}.String())
	}
	return ids
}

// stageOf returns the 1-based stage number of the stage named name.
func stageOf(in workflows.InitializeClusterInput, name string) int {
	return slices.IndexFunc(in.Plan.Stages, func(s workflows.Stage) bool { return s.Name == name }) + 1
}

// observerPIDs returns the running observers of home (argv[0] is its
// bin/observer).
func observerPIDs(home string) map[int][]string {
	out := map[int][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(string(bytes.TrimSuffix(b, []byte{0})), "\x00")
		if argv[0] == filepath.Join(home, "bin", "observer") {
			out[pid] = argv
		}
	}
	return out
}

func killObservers(home string) {
	for pid := range observerPIDs(home) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(observerPIDs(home)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// counters sums the simulator's statement counters over the hosts.
func (c *cluster) counters() obsim.Counters {
	c.t.Helper()
	var sum obsim.Counters
	for _, h := range c.hosts {
		n, err := obsim.ReadCounters(h.HomePath)
		if err != nil {
			c.t.Fatal(err)
		}
		sum.Bootstrap += n.Bootstrap
		sum.BootstrapOK += n.BootstrapOK
		sum.AddServer += n.AddServer
		sum.AddServerOK += n.AddServerOK
		sum.AlterUser += n.AlterUser
		sum.AlterUserOK += n.AlterUserOK
		sum.CreateUser += n.CreateUser
		sum.Grant += n.Grant
	}
	return sum
}

// checkInitialized asserts what a successful init leaves: each action
// once, observers with obshell's exact command line, root login with the
// new password on every host.
func (c *cluster) checkInitialized(t testing.TB) {
	t.Helper()
	// A redelivered "Cluster boostrap" sends BOOTSTRAP again, as obshell
	// does on RETRY; the observer answers 4015 and nothing changes.
	if n := c.counters(); n.Bootstrap < 1 || n.BootstrapOK != 1 || n.AddServer != 1 || n.AddServerOK != 1 || n.AlterUser != 1 || n.AlterUserOK != 1 {
		t.Errorf("statement counters %+v, want BOOTSTRAP, ADD SERVER and ALTER USER done once each", n)
	}
	for i, h := range c.hosts {
		procs := observerPIDs(h.HomePath)
		if len(procs) != 1 {
			t.Errorf("%s: %d observers running", h.Agent, len(procs))
		}
		want := []string{h.HomePath + "/bin/observer", "-n", "obcluster", "-c", "42", "-z", zoneOf(i), "-I", h.Agent.IP,
			"-d", h.HomePath + "/store", "-p", "2881", "-P", "2882", "-o", "memory_limit=6G,system_memory=1G"}
		for _, argv := range procs {
			if !slices.Equal(argv, want) {
				t.Errorf("%s: observer argv\n%q\nwant\n%q", h.Agent, argv, want)
			}
		}
		if err := obsim.Login(context.Background(), h.Agent.IP+":2881", "root", rootPassword); err != nil {
			t.Errorf("%s: root login with the new password: %v", h.Agent, err)
		}
		if err := obsim.Login(context.Background(), h.Agent.IP+":2881", "root", ""); err == nil {
			t.Errorf("%s: root still logs in without a password", h.Agent)
		}
	}
}

// checkNoPlaintext scans the raw bytes of every history event.
func checkNoPlaintext(t testing.TB, events []*historypb.HistoryEvent, secrets ...string) {
	t.Helper()
	for _, e := range events {
		raw, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("event %d (%s) holds a password in plain text", e.GetEventId(), e.GetEventType())
			}
		}
	}
}
