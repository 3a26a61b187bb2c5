package api

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obsim"
	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/worker"
	"github.com/obflow/obflow/workflows"
)

// The api package's loopback range is 127.0.3.x (docs/ARCHITECTURE.md):
// the embedded Temporal server on .250, simulated hosts on .2 upwards, each
// with an agent on :2886 and an observer on 2881/2882.
const serverIP = "127.0.3.250"

var (
	temporalClient client.Client
	codecKeyFile   string
	testNamespace  string
	dataConverter  converter.DataConverter
	testLogger     = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
)

// testPlanOptions keep failures quick: a host whose worker is gone is
// noticed in seconds, and transient errors retry fast.
var testPlanOptions = workflows.PlanOptions{
	Defaults: workflows.ActivityOptions{ScheduleToStart: 15 * time.Second, InitialInterval: 200 * time.Millisecond, MaximumInterval: 2 * time.Second, MaximumAttempts: 3},
}

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "obflow-api-devserver-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: dir, IP: serverIP, Headless: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the embedded Temporal server:", err)
		return 1
	}
	defer srv.Stop()
	key, err := payloadcodec.LoadKey(srv.CodecKeyFile())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := worker.Dial(ctx, worker.ClientConfig{HostPort: srv.HostPort(), Namespace: srv.Namespace(), CodecKey: key, Logger: testLogger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	temporalClient, codecKeyFile, testNamespace = c, srv.CodecKeyFile(), srv.Namespace()
	dataConverter, _ = payloadcodec.DataConverter(key)
	return m.Run()
}

func needServer(t *testing.T) {
	t.Helper()
	if temporalClient == nil {
		t.Skip("needs the embedded Temporal server (not started with -short)")
	}
}

// onceWorker stops its worker at most once.
type onceWorker struct {
	w    sdkworker.Worker
	once sync.Once
}

func (o *onceWorker) Stop() { o.once.Do(o.w.Stop) }

// startCoordinator runs a coordinator worker for the test.
func startCoordinator(t *testing.T) *onceWorker {
	t.Helper()
	w, err := worker.NewCoordinator(worker.CoordinatorConfig{Config: worker.Config{Client: temporalClient, Logger: testLogger}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	o := &onceWorker{w: w}
	t.Cleanup(o.Stop)
	return o
}

// simHost is one simulated host: an observer home with the simulator
// installed, its host worker and its agent API on ip:2886.
type simHost struct {
	ip     string
	home   string
	api    *Server
	worker sdkworker.Worker
	stop   context.CancelFunc
}

func (h *simHost) addr() string { return net.JoinHostPort(h.ip, "2886") }

// hostRefreshInterval is how often startHosts' agents refresh their
// registry snapshot in the background (a test may shorten it).
var hostRefreshInterval = 500 * time.Millisecond

// hostPlanOptions are the plan options of startHosts' agents (a test may
// shorten them further).
var hostPlanOptions = testPlanOptions

// startHosts starts one agent per ip, all on the registry registryID.
func startHosts(t *testing.T, registryID string, ips ...string) []*simHost {
	t.Helper()
	var hosts []*simHost
	for _, ip := range ips {
		home := filepath.Join(t.TempDir(), "home-"+ip)
		if err := obsim.Install(home); err != nil {
			t.Fatal(err)
		}
		h := &simHost{ip: ip, home: home}
		t.Cleanup(func() { killObserver(home) })
		h.startWorker(t)
		key, err := hybridauth.LoadOrCreateKey(filepath.Join(t.TempDir(), "agent-"+ip, "agent.key"))
		if err != nil {
			t.Fatal(err)
		}
		h.api, err = New(Config{
			IP: ip, Port: 2886, HomePath: home, Client: temporalClient, DataConverter: dataConverter,
			Key: key, RegistryID: registryID, PlanOptions: hostPlanOptions, Logger: testLogger,
			RefreshInterval: hostRefreshInterval,
		})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", h.addr())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.api.Run(ctx, ln) }()
		h.stop = cancel
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", ip, err)
			}
		})
		hosts = append(hosts, h)
	}
	return hosts
}

func (h *simHost) startWorker(t *testing.T) {
	t.Helper()
	w, err := worker.NewHost(worker.HostConfig{
		Config: worker.Config{Client: temporalClient, Logger: testLogger},
		Host:   activities.HostIdentity{IP: h.ip, AgentPort: 2886, HomePath: h.home},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	h.worker = w
	t.Cleanup(func() {
		if h.worker != nil {
			h.worker.Stop()
		}
	})
}

// killObserver stops a simulated observer left running by a test.
func killObserver(home string) {
	b, err := os.ReadFile(obsim.PidPath(home))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(string(trimSpace(b)))
	if err != nil || pid <= 0 {
		return
	}
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

var recordHistories = flag.Bool("record", false, "write the histories of the DAGs the tests run to ../internal/dagview/testdata")

// recordHistory writes a DAG workflow's history (protojson, payloads as
// the codec wrote them) and the codec key for dagview's unit tests.
func recordHistory(t *testing.T, name, gid string) {
	t.Helper()
	if !*recordHistories {
		return
	}
	ctx := context.Background()
	var events []*historypb.HistoryEvent
	it := temporalClient.GetWorkflowHistory(ctx, workflows.WorkflowID(gid), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: " "}.Marshal(&historypb.History{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "internal", "dagview", "testdata")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	keyFile, err := os.ReadFile(codecKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Each test run has its own server and key: keep the key per history.
	if err := os.WriteFile(filepath.Join(dir, name+".codec.key"), keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
}
