package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/searchattr"
)

// The workflows package owns 127.0.2.x (docs/ARCHITECTURE.md).
var (
	agent1 = obcluster.Agent{IP: "127.0.2.1", Port: 2886}
	agent2 = obcluster.Agent{IP: "127.0.2.2", Port: 2886}
	agent3 = obcluster.Agent{IP: "127.0.2.3", Port: 2886}
	agent4 = obcluster.Agent{IP: "127.0.2.4", Port: 2886} // never has a worker
)

const (
	testRootPassword    = "Root-Secret-7f3a"
	testProxyroPassword = "Proxyro-Secret-91bc"
)

// testTopology: three hosts in three zones, joined in the order 1, 3, 2 so
// that join order differs from address order.
func testTopology() Topology {
	return Topology{
		Cluster:      obcluster.ClusterConfig{Name: "obcluster", ID: 7},
		RootPassword: testRootPassword,
		Master:       agent1,
		Hosts: []obcluster.Host{
			{Agent: agent1, Zone: "zone1", HomePath: "/tmp/obflow-wf/1"},
			{Agent: agent3, Zone: "zone3", HomePath: "/tmp/obflow-wf/3"},
			{Agent: agent2, Zone: "zone2", HomePath: "/tmp/obflow-wf/2"},
		},
		Observer: obcluster.ObserverConfig{
			Global: map[string]obcluster.ConfigValue{"memory_limit": {Value: "6G", Revision: 1}},
		},
	}
}

func testInput(t *testing.T, topo Topology, opts PlanOptions) InitializeClusterInput {
	t.Helper()
	in, err := NewInitializeClusterInput(42, topo, opts)
	if err != nil {
		t.Fatalf("NewInitializeClusterInput: %v", err)
	}
	return in
}

// fakeIntegrate is a stand-in for the "Integrate config" activity that
// follows the documented root-server order: the master's zone first, then
// the other zones in the order of their first host in the join list.
func fakeIntegrate(in activities.IntegrateConfigInput) activities.IntegrateConfigResult {
	res := activities.IntegrateConfigResult{ZoneRS: map[string]obcluster.ServerAddr{}, UnRS: map[string][]obcluster.ServerAddr{}}
	res.Logs = []string{"get all agents", "setting bootstrap config"}
	hosts := append([]obcluster.Host(nil), in.Hosts...)
	sort.SliceStable(hosts, func(i, j int) bool { return hosts[i].Agent == in.Master && hosts[j].Agent != in.Master })
	for _, h := range in.Hosts {
		home := h.HomePath
		res.Servers = append(res.Servers, obcluster.ServerPlan{
			Host:      h,
			Dirs:      obcluster.Dirs{HomePath: home, DataDir: home + "/store", RedoDir: home + "/store", ClogDir: home + "/store/clog", SlogDir: home + "/store/slog"},
			Config:    map[string]string{"cluster": in.Cluster.Name, "zone": h.Zone, "mysql_port": "2881", "rpc_port": "2882"},
			MySQLPort: obcluster.DefaultMySQLPort,
			RPCPort:   obcluster.DefaultRPCPort,
		})
	}
	for _, h := range hosts {
		addr := obcluster.ServerAddr{IP: h.Agent.IP, RPCPort: obcluster.DefaultRPCPort}
		if _, ok := res.ZoneRS[h.Zone]; !ok {
			res.ZoneRS[h.Zone] = addr
			res.Zones = append(res.Zones, h.Zone)
			continue
		}
		res.UnRS[h.Zone] = append(res.UnRS[h.Zone], addr)
	}
	return res
}

// call is one activity execution seen by the fake cluster.
type call struct {
	ID    ActivityID
	Type  string
	Queue string
	Input any
	At    time.Time // workflow clock when it started
}

// fakeCluster stands in for every activity, by name. fail and delay are
// keyed by activity id string ("3-run-1-127.0.2.2:2886").
type fakeCluster struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	mu       sync.Mutex
	calls    []call
	fail     map[string]error
	failType map[string]error // keyed by activity type: every execution fails
	attempts map[string]int
	// failFn, when set, decides first: attempt counts from 1 per activity id.
	failFn func(activityID string, attempt int) error
	// integrate replaces fakeIntegrate.
	integrate func(activities.IntegrateConfigInput) activities.IntegrateConfigResult
	upserts   []temporal.SearchAttributes
	logs      *logCapture
}

// scenario tunes a test environment before the workflow starts.
type scenario struct {
	fail     map[string]error
	failType map[string]error
	delay    map[string]time.Duration // by activity id
	metrics  client.MetricsHandler    // receives the workflow's metrics
}

func newEnv(t *testing.T, sc scenario) (*testsuite.TestWorkflowEnvironment, *fakeCluster) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	logs := &logCapture{}
	suite.SetLogger(log.NewStructuredLogger(slog.New(logs)))
	if sc.metrics != nil {
		suite.SetMetricsHandler(sc.metrics)
	}
	env := suite.NewTestWorkflowEnvironment()
	Register(env)
	env.RegisterWorkflowWithOptions(testDAG, workflow.RegisterOptions{Name: "test DAG"})
	f := &fakeCluster{t: t, env: env, fail: sc.fail, failType: sc.failType, attempts: map[string]int{}, logs: logs}

	type regd struct {
		name string
		stub any
		fake any
	}
	regs := []regd{
		{activities.IntegrateConfigName,
			func(context.Context, activities.IntegrateConfigInput) (activities.IntegrateConfigResult, error) {
				panic("mocked")
			},
			func(ctx context.Context, in activities.IntegrateConfigInput) (activities.IntegrateConfigResult, error) {
				if err := f.record(ctx, activities.IntegrateConfigName, in); err != nil {
					return activities.IntegrateConfigResult{}, err
				}
				if f.integrate != nil {
					return f.integrate(in), nil
				}
				return fakeIntegrate(in), nil
			}},
	}
	for _, name := range []string{activities.CreateWorkdirName, activities.DestroyWorkdirName} {
		regs = append(regs, regd{name,
			func(context.Context, activities.WorkdirInput) (activities.Result, error) { panic("mocked") },
			func(ctx context.Context, in activities.WorkdirInput) (activities.Result, error) {
				return activities.Result{Logs: []string{"ok"}}, f.record(ctx, name, in)
			}})
	}
	regs = append(regs,
		regd{activities.StartObserverName,
			func(context.Context, activities.StartObserverInput) (activities.StartObserverResult, error) {
				panic("mocked")
			},
			func(ctx context.Context, in activities.StartObserverInput) (activities.StartObserverResult, error) {
				return activities.StartObserverResult{PID: 100, MySQLPort: 2881, RPCPort: 2882}, f.record(ctx, activities.StartObserverName, in)
			}},
		regd{activities.StopObserverName,
			func(context.Context, activities.StartObserverInput) (activities.Result, error) { panic("mocked") },
			func(ctx context.Context, in activities.StartObserverInput) (activities.Result, error) {
				return activities.Result{}, f.record(ctx, activities.StopObserverName, in)
			}},
		regd{activities.SyncAgentName,
			func(context.Context, activities.SyncAgentInput) (activities.SyncAgentResult, error) { panic("mocked") },
			func(ctx context.Context, in activities.SyncAgentInput) (activities.SyncAgentResult, error) {
				return activities.SyncAgentResult{Identity: "CLUSTER AGENT"}, f.record(ctx, activities.SyncAgentName, in)
			}},
	)
	for _, name := range []string{activities.ClusterBootstrapName, activities.MigrateTableName, activities.ModifyPasswordName,
		activities.CreateUserName, activities.MigrateDataName, activities.ConvertFollowerName, activities.ConvertMasterName,
		activities.ImportScriptName} {
		regs = append(regs, regd{name,
			func(context.Context, activities.ClusterInput) (activities.Result, error) { panic("mocked") },
			func(ctx context.Context, in activities.ClusterInput) (activities.Result, error) {
				return activities.Result{Logs: []string{name + " done"}}, f.record(ctx, name, in)
			}})
	}
	for _, r := range regs {
		env.RegisterActivityWithOptions(r.stub, activity.RegisterOptions{Name: r.name})
	}
	// Delays first: testify takes the first expectation that matches.
	for id, d := range sc.delay {
		pid, err := ParseActivityID(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range regs {
			if r.name != typeOfStage(t, pid) {
				continue
			}
			env.OnActivity(r.name, mock.MatchedBy(func(ctx context.Context) bool {
				return activity.GetInfo(ctx).ActivityID == id
			}), mock.Anything).After(d).Return(r.fake)
		}
	}
	for _, r := range regs {
		env.OnActivity(r.name, mock.Anything, mock.Anything).Return(r.fake)
	}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.upserts = append(f.upserts, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil)
	return env, f
}

// typeOfStage maps a delayed id to its activity type in the default init plan.
func typeOfStage(t *testing.T, id ActivityID) string {
	in := testInput(t, testTopology(), PlanOptions{})
	st := in.Plan.Stages[id.Stage-1]
	if id.Kind == KindRollback {
		return st.Rollback
	}
	return st.ActivityType()
}

func (f *fakeCluster) record(ctx context.Context, typ string, in any) error {
	info := activity.GetInfo(ctx)
	id, err := ParseActivityID(info.ActivityID)
	if err != nil {
		f.t.Errorf("activity %s has an unreadable id: %v", typ, err)
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{ID: id, Type: typ, Queue: info.TaskQueue, Input: in, At: f.env.Now()})
	f.attempts[info.ActivityID]++
	if f.failFn != nil {
		if err := f.failFn(info.ActivityID, f.attempts[info.ActivityID]); err != nil {
			return err
		}
	}
	if err := f.fail[info.ActivityID]; err != nil {
		return err
	}
	return f.failType[typ]
}

// ids lists the activity ids executed so far, in start order.
func (f *fakeCluster) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.ID.String())
	}
	return out
}

func (f *fakeCluster) callsOf(typ string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// stateTrail lists "STATE/OPERATOR/stage" of every search-attribute upsert.
func (f *fakeCluster) stateTrail() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, sa := range f.upserts {
		st, _ := sa.GetKeyword(searchattr.DagState)
		op, _ := sa.GetKeyword(searchattr.DagOperator)
		stage, _ := sa.GetInt64(searchattr.DagStage)
		out = append(out, fmt.Sprintf("%s/%s/%d", st, op, stage))
	}
	return out
}

// status queries the running workflow.
func status(t *testing.T, env *testsuite.TestWorkflowEnvironment) DagStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var st DagStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// updateOutcome is what an operator Update came back with.
type updateOutcome struct {
	done     bool
	accepted bool
	err      error
	result   DagStatus
}

// operate sends an operator Update at delay on the workflow clock.
func operate(env *testsuite.TestWorkflowEnvironment, at time.Duration, name string, args ...any) *updateOutcome {
	out := &updateOutcome{}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(name, fmt.Sprintf("%s-%d", name, at), &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.done = true; out.err = err },
			OnComplete: func(r any, err error) {
				out.done = true
				out.err = err
				if s, ok := r.(DagStatus); ok {
					out.result = s
				}
			},
		}, args...)
	}, at)
	return out
}

// wantRejected checks an Update was refused with errCode and message.
func wantRejected(t *testing.T, what string, out *updateOutcome, errCode, message string) {
	t.Helper()
	if !out.done {
		t.Fatalf("%s: update never answered", what)
	}
	if out.accepted {
		t.Fatalf("%s: accepted, want rejected with %s", what, errCode)
	}
	var app *temporal.ApplicationError
	if !errors.As(out.err, &app) {
		t.Fatalf("%s: error %v is not an ApplicationError", what, out.err)
	}
	if app.Type() != errCode || app.Message() != message || !app.NonRetryable() {
		t.Fatalf("%s: got [%s] %q (non-retryable %v), want [%s] %q", what, app.Type(), app.Message(), app.NonRetryable(), errCode, message)
	}
}

func wantAccepted(t *testing.T, what string, out *updateOutcome) {
	t.Helper()
	if !out.done || !out.accepted || out.err != nil {
		t.Fatalf("%s: done=%v accepted=%v err=%v, want accepted", what, out.done, out.accepted, out.err)
	}
}

// result fetches the workflow's DagResult after it ended without error.
func result(t *testing.T, env *testsuite.TestWorkflowEnvironment) DagResult {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var r DagResult
	if err := env.GetWorkflowResult(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

// logCapture keeps the workflow's log records to check what it reported.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

// find returns the log lines containing every part.
func (l *logCapture) find(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

func nonRetryable(code, msg string, logs ...string) error {
	return temporal.NewApplicationErrorWithOptions(msg, code, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{logs}})
}
