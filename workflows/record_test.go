//go:build embedded

// Tests against the embedded Temporal server (package devserver). They need
// the server's build, so they sit behind the "embedded" build tag:
//
//	go test -tags embedded ./workflows -run 'TestRecordHistories|TestOnEmbeddedServer' -count=1
//	go test -tags embedded ./workflows -run TestRecordHistories -record   # rewrite testdata/*.json
//
// Without -record, TestRecordHistories runs the same scenarios and only
// checks them; the replay test (replay_test.go) runs without the tag.

package workflows

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/obflow/obflow/internal/obcluster"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/devserver/devservertest"
	"github.com/obflow/obflow/internal/taskqueue"
)

var record = flag.Bool("record", false, "rewrite the recorded histories in testdata/")

func TestMain(m *testing.M) { devservertest.Main(m) }

// embeddedClient dials the package's embedded server with plain JSON
// payloads, so the recorded histories show payloads as the translator sees
// them once the codec has decoded them.
func embeddedClient(t *testing.T) client.Client {
	t.Helper()
	return devservertest.NewClient(t, client.Options{DataConverter: converter.GetDefaultDataConverter()})
}

// withCodec dials the server with its encrypting data converter, as every
// obflow process does.
func withCodec(t *testing.T) client.Client {
	t.Helper()
	return devservertest.NewClient(t, client.Options{})
}

// liveCluster is a set of fake activities served by real workers: one on
// the coordinator queue and one per host queue (except the hosts listed as
// not started). fail is keyed by activity id; block makes an activity heartbeat
// until it is cancelled.
type liveCluster struct {
	mu    sync.Mutex
	fail  map[string]error
	block map[string]bool
}

func (l *liveCluster) outcome(ctx context.Context) error {
	id := activity.GetInfo(ctx).ActivityID
	l.mu.Lock()
	err, block := l.fail[id], l.block[id]
	l.mu.Unlock()
	if block {
		logs := []string{"start observer", "wait for observer health"}
		for {
			activity.RecordHeartbeat(ctx, logs)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return err
}

func (l *liveCluster) register(r worker.ActivityRegistry) {
	reg := func(name string, fn any) { r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	reg(activities.IntegrateConfigName, func(ctx context.Context, in activities.IntegrateConfigInput) (activities.IntegrateConfigResult, error) {
		return fakeIntegrate(in), l.outcome(ctx)
	})
	for _, n := range []string{activities.CreateWorkdirName, activities.DestroyWorkdirName} {
		reg(n, func(ctx context.Context, in activities.WorkdirInput) (activities.Result, error) {
			return activities.Result{Logs: []string{"workdir " + in.Dirs.HomePath}}, l.outcome(ctx)
		})
	}
	reg(activities.StartObserverName, func(ctx context.Context, in activities.StartObserverInput) (activities.StartObserverResult, error) {
		return activities.StartObserverResult{Result: activities.Result{Logs: []string{"observer started"}}, PID: 4242, MySQLPort: 2881, RPCPort: 2882}, l.outcome(ctx)
	})
	reg(activities.StopObserverName, func(ctx context.Context, in activities.StartObserverInput) (activities.Result, error) {
		return activities.Result{Logs: []string{"observer stopped"}}, l.outcome(ctx)
	})
	reg(activities.SyncAgentName, func(ctx context.Context, in activities.SyncAgentInput) (activities.SyncAgentResult, error) {
		return activities.SyncAgentResult{Result: activities.Result{Logs: []string{"synced"}}, Identity: "CLUSTER AGENT"}, l.outcome(ctx)
	})
	for _, n := range []string{activities.ClusterBootstrapName, activities.MigrateTableName, activities.ModifyPasswordName,
		activities.CreateUserName, activities.MigrateDataName, activities.ConvertFollowerName, activities.ConvertMasterName,
		activities.ImportScriptName} {
		reg(n, func(ctx context.Context, in activities.ClusterInput) (activities.Result, error) {
			return activities.Result{Logs: []string{n + " done"}}, l.outcome(ctx)
		})
	}
}

// startWorkers runs the coordinator worker and a worker per listed host.
// Every queue name gets suffix: a test that stops its workers and another
// that starts new ones on the same queue would otherwise lose its first
// task to the stopped worker's last poll (a 10 s workflow task timeout).
func startWorkers(t *testing.T, c client.Client, l *liveCluster, suffix string, hosts ...obcluster.Agent) {
	t.Helper()
	queues := []string{taskqueue.Coordinator + suffix}
	for _, a := range hosts {
		queues = append(queues, taskqueue.Host(a.String())+suffix)
	}
	for _, q := range queues {
		// Heartbeats carry cancellation back to the activity; the SDK's
		// default throttle (80% of the 10 s heartbeat timeout) would delay a
		// CANCEL by up to 8 s.
		w := worker.New(c, q, worker.Options{MaxHeartbeatThrottleInterval: 500 * time.Millisecond})
		if q == taskqueue.Coordinator+suffix {
			Register(w)
		}
		l.register(w)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
}

// isolate moves a plan and its start options to the queues of startWorkers
// with the same suffix.
func isolate(plan *Plan, opts *client.StartWorkflowOptions, suffix string) {
	for i := range plan.Stages {
		for j := range plan.Stages[i].Targets {
			plan.Stages[i].Targets[j].Queue += suffix
		}
	}
	opts.TaskQueue += suffix
}

// liveScenario is one recorded run.
type liveScenario struct {
	name  string
	fail  map[string]error
	block map[string]bool
	// hosts adds hosts to the topology that have no worker.
	down []obcluster.Host
	opts PlanOptions
	// drive operates the DAG after it started; it returns the expected end.
	drive func(t *testing.T, c client.Client, run client.WorkflowRun) DagStatus
}

func waitFor(t *testing.T, c client.Client, wid string, want func(DagStatus) bool) DagStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := c.QueryWorkflow(context.Background(), wid, "", QueryStatus)
		if err == nil {
			var st DagStatus
			if err := v.Get(&st); err == nil && want(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflow %s never reached the wanted state (last query error %v)", wid, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func operateLive(t *testing.T, c client.Client, wid, name string, args ...any) DagStatus {
	t.Helper()
	h, err := c.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
		WorkflowID: wid, UpdateName: name, Args: args, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var st DagStatus
	if err := h.Get(context.Background(), &st); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return st
}

func failedState(st DagStatus) bool { return st.State == StateFailed }

func liveScenarios() []liveScenario {
	appErr := func(code, msg string, logs ...string) error {
		return temporal.NewApplicationErrorWithOptions(msg, code, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{logs}})
	}
	return []liveScenario{
		{name: "success", drive: func(*testing.T, client.Client, client.WorkflowRun) DagStatus {
			return DagStatus{State: StateSucceed, Operator: OperatorRun, Stage: 11, MaxStage: 11}
		}},
		{
			name: "retry",
			fail: map[string]error{"3-run-1-" + agent3.String(): appErr("OB.Server.Process.NotExist", "Observer process does not exist",
				"start observer", "observer exited with status 1")},
			drive: func(t *testing.T, c client.Client, run client.WorkflowRun) DagStatus {
				waitFor(t, c, run.GetID(), failedState)
				operateLive(t, c, run.GetID(), OperatorRetry)
				return DagStatus{State: StateSucceed, Operator: OperatorRun, Stage: 11, MaxStage: 11}
			},
		},
		{
			name: "rollback",
			fail: map[string]error{"5-run-1-" + master: appErr("MySQL.Error", "MySQL error: Error 1050: table exists", "create database ocs")},
			drive: func(t *testing.T, c client.Client, run client.WorkflowRun) DagStatus {
				waitFor(t, c, run.GetID(), failedState)
				operateLive(t, c, run.GetID(), OperatorRollback)
				return DagStatus{State: StateSucceed, Operator: OperatorRollback, Stage: 1, MaxStage: 11}
			},
		},
		{
			name:  "cancel",
			block: map[string]bool{"3-run-1-" + agent2.String(): true},
			drive: func(t *testing.T, c client.Client, run client.WorkflowRun) DagStatus {
				waitFor(t, c, run.GetID(), func(st DagStatus) bool { return st.Stage == 3 })
				time.Sleep(300 * time.Millisecond) // let the blocked activity heartbeat
				operateLive(t, c, run.GetID(), OperatorCancel)
				waitFor(t, c, run.GetID(), failedState)
				operateLive(t, c, run.GetID(), OperatorRollback)
				return DagStatus{State: StateSucceed, Operator: OperatorRollback, Stage: 1, MaxStage: 11}
			},
		},
		{
			name: "unreachable",
			down: []obcluster.Host{{Agent: agent4, Zone: "zone4", HomePath: "/tmp/obflow-wf/4"}},
			opts: PlanOptions{Defaults: ActivityOptions{ScheduleToStart: time.Second}, FailedDagTTL: 2 * time.Second},
			drive: func(t *testing.T, c client.Client, run client.WorkflowRun) DagStatus {
				return DagStatus{State: StateFailed, Operator: OperatorRun, Stage: 2, MaxStage: 11}
			},
		},
	}
}

// TestRecordHistories runs each scenario on the embedded server with real
// workers and fake activities, checks its end, and with -record writes its
// history to testdata/<name>.json for the replay tests and the translator.
func TestRecordHistories(t *testing.T) {
	c := embeddedClient(t)
	// One set of workers on the real queue names serves every scenario, so
	// the histories show the queues as in production.
	l := &liveCluster{}
	startWorkers(t, c, l, "", agent1, agent2, agent3)
	for _, sc := range liveScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			l.mu.Lock()
			l.fail, l.block = sc.fail, sc.block
			l.mu.Unlock()
			topo := testTopology()
			topo.Hosts = append(topo.Hosts, sc.down...)
			in := testInput(t, topo, sc.opts)
			in.Plan.DagID = time.Now().UnixNano() % 1e9
			genericID := fmt.Sprintf("2%010d%05d%d", 2130706945, 2886, in.Plan.DagID) // owner 127.0.2.1:2886
			opts := StartWorkflowOptions(genericID, in.Plan)
			run, err := c.ExecuteWorkflow(context.Background(), opts, InitializeClusterName, in)
			if err != nil {
				t.Fatal(err)
			}
			want := sc.drive(t, c, run)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var got DagResult
			if err := run.Get(ctx, &got); err != nil {
				t.Fatalf("workflow: %v", err)
			}
			if got.DagStatus != want {
				t.Fatalf("ended %+v, want %+v", got, want)
			}
			hist := fetchHistory(t, c, run.GetID(), run.GetRunID())
			if *record {
				b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(hist)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("testdata", sc.name+".json"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			replayer := worker.NewWorkflowReplayer()
			Register(replayer)
			if err := replayer.ReplayWorkflowHistory(nil, hist); err != nil {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

func fetchHistory(t *testing.T, c client.Client, wid, rid string) *history.History {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), wid, rid, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &history.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

// A host whose worker is down fails its sub-task with "agent <ip:port>
// unreachable" within the schedule-to-start timeout, after its siblings.
func TestOnEmbeddedServerUnreachableAgentIsNamed(t *testing.T) {
	c := embeddedClient(t)
	l := &liveCluster{}
	startWorkers(t, c, l, "-unreachable", agent1, agent2)
	in := testInput(t, testTopology(), PlanOptions{Defaults: ActivityOptions{ScheduleToStart: time.Second}, FailedDagTTL: time.Minute})
	in.Plan.DagID = time.Now().UnixNano()%1e9 + 1
	opts := StartWorkflowOptions(fmt.Sprintf("unreachable-%d", in.Plan.DagID), in.Plan)
	isolate(&in.Plan, &opts, "-unreachable")
	start := time.Now()
	run, err := c.ExecuteWorkflow(context.Background(), opts, InitializeClusterName, in)
	if err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, c, run.GetID(), failedState)
	if st.Stage != 2 || time.Since(start) > 10*time.Second {
		t.Fatalf("failed at %+v after %s", st, time.Since(start))
	}
	hist := fetchHistory(t, c, run.GetID(), run.GetRunID())
	var found bool
	for _, e := range hist.Events {
		m := e.GetMarkerRecordedEventAttributes()
		if m == nil {
			continue
		}
		f, ok, err := DecodeSubTaskFailure(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		want := "agent 127.0.2.3:2886 unreachable: no worker took the sub-task from task queue obflow-host-127.0.2.3:2886-unreachable within 1s"
		if f.ActivityID == "2-run-1-127.0.2.3:2886" && f.ErrCode == ErrCodeAgentUnreachable && f.Message == want {
			found = true
		}
	}
	if !found {
		t.Fatal("no SubTaskFailure marker naming the unreachable agent")
	}
	if err := c.CancelWorkflow(context.Background(), run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	var canceled *temporal.CanceledError
	if err := run.Get(context.Background(), nil); !errors.As(err, &canceled) {
		t.Fatalf("after cancel: %v", err)
	}
}

// With the codec, as every obflow process runs, neither password appears
// in the raw history: not in payloads, search attributes, ids, summaries
// or failures.
func TestOnEmbeddedServerNoPlaintextPasswordInHistory(t *testing.T) {
	c := withCodec(t)
	l := &liveCluster{fail: map[string]error{"7-run-1-" + master: temporal.NewNonRetryableApplicationError("grant failed", "MySQL.Error", nil, []string{"create user proxyro"})}}
	startWorkers(t, c, l, "-codec", agent1, agent2, agent3)
	topo := testTopology()
	topo.CreateProxyroUser = true
	topo.ProxyroPassword = testProxyroPassword
	in := testInput(t, topo, PlanOptions{})
	in.Plan.DagID = time.Now().UnixNano()%1e9 + 2
	opts := StartWorkflowOptions(fmt.Sprintf("secrets-%d", in.Plan.DagID), in.Plan)
	isolate(&in.Plan, &opts, "-codec")
	run, err := c.ExecuteWorkflow(context.Background(), opts, InitializeClusterName, in)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, run.GetID(), failedState)
	l.mu.Lock()
	l.fail = nil
	l.mu.Unlock()
	operateLive(t, c, run.GetID(), OperatorRetry)
	var res DagResult
	if err := run.Get(context.Background(), &res); err != nil || res.State != StateSucceed {
		t.Fatalf("result %+v, %v", res, err)
	}
	raw, err := fetchHistory(t, c, run.GetID(), run.GetRunID()).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	text, err := protojson.Marshal(fetchHistory(t, c, run.GetID(), run.GetRunID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{testRootPassword, testProxyroPassword} {
		if strings.Contains(string(raw), secret) || strings.Contains(string(text), secret) {
			t.Fatalf("password %q in plaintext in the history", secret)
		}
	}
	// The encrypted history replays with the codec.
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: devservertest.Server().DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	Register(replayer)
	if err := replayer.ReplayWorkflowHistory(nil, fetchHistory(t, c, run.GetID(), run.GetRunID())); err != nil {
		t.Fatalf("replay with the codec: %v", err)
	}
}
