package worker

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obsim"
	"github.com/obflow/obflow/internal/payloadcodec"
)

// The acceptance tests run every worker, and the Temporal server, as a
// separate process, so that a test can SIGKILL one and start it again:
// TestMain re-executes the test binary with roleEnv set to the part it
// plays. This package's loopback range is 127.0.6.x (docs/ARCHITECTURE.md):
// the server listens on 127.0.6.1, the simulated hosts are 127.0.6.2-4.
const (
	roleEnv    = "OBFLOW_WORKER_TEST_ROLE" // server, coordinator or host
	addrEnv    = "OBFLOW_WORKER_TEST_TEMPORAL"
	dataDirEnv = "OBFLOW_WORKER_TEST_DATA_DIR"
	keyFileEnv = "OBFLOW_WORKER_TEST_KEY_FILE"
	hostIPEnv  = "OBFLOW_WORKER_TEST_HOST_IP"
	homeEnv    = "OBFLOW_WORKER_TEST_HOME"
	slowEnv    = "OBFLOW_WORKER_TEST_SLOW" // hold every first attempt this long after its work
	serverIP   = "127.0.6.1"
	agentPort  = obcluster.DefaultAgentPort
)

// env is the shared test environment set up by TestMain.
var env struct {
	obflowBin string // `obflow` built from cmd/obflow, or "" if it did not build
	root      string // temp dir of the whole run
	dataDir   string // the Temporal server's data dir (kept across restarts)
	hostPort  string
	keyFile   string
	server    *proc
	client    client.Client
}

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	env.root, err = os.MkdirTemp("", "obflow-worker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(env.root)
	if _, err := obsim.BuildBinary(); err != nil {
		fmt.Fprintln(os.Stderr, "build simulator:", err)
		return 1
	}
	// The Temporal server runs as `obflow server`, the real command, when
	// cmd/obflow builds; otherwise the test binary runs the same
	// devserver.Start itself (see runServer).
	env.obflowBin = filepath.Join(env.root, "obflow")
	if out, err := exec.Command("go", "build", "-o", env.obflowBin, "github.com/obflow/obflow/cmd/obflow").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cmd/obflow does not build (%v), running the server from the test binary:\n%s\n", err, out)
		env.obflowBin = ""
	}
	port, err := freePort(serverIP)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.hostPort = net.JoinHostPort(serverIP, strconv.Itoa(port))
	env.dataDir = filepath.Join(env.root, "temporal")
	env.keyFile = filepath.Join(env.dataDir, devserver.CodecKeyFile)
	if env.server, err = startServer(); err != nil {
		fmt.Fprintln(os.Stderr, "start temporal:", err)
		return 1
	}
	// A closure: TestServerCrash replaces env.server with a new process,
	// and that one must be stopped, not the one it killed.
	defer func() { env.server.stop() }()
	key, err := payloadcodec.LoadKey(env.keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env.client, err = Dial(context.Background(), ClientConfig{HostPort: env.hostPort, Namespace: "default", CodecKey: key,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.client.Close()
	return m.Run()
}

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs the embedded Temporal server (devserver, as `obflow
// server` runs it) in a child process on env.dataDir and waits until it
// serves.
func startServer() (*proc, error) {
	var p *proc
	var err error
	if env.obflowBin != "" {
		host, port, _ := net.SplitHostPort(env.hostPort)
		cmd := exec.Command(env.obflowBin, "server", "--data-dir", env.dataDir, "--ip", host, "--port", port, "--headless", "--log-level", "warn")
		p, err = startCmd("obflow-server", cmd, "Temporal server:", nil)
	} else {
		p, err = startProc("server", nil, map[string]string{addrEnv: env.hostPort, dataDirEnv: env.dataDir})
	}
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(3 * time.Minute); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// proc is a child process of the test binary playing one role.
type proc struct {
	role  string
	cmd   *exec.Cmd
	log   string
	ready chan error
	done  chan struct{}
}

// startProc re-executes the test binary as role with extra environment.
func startProc(role string, t *testing.T, extra map[string]string) (*proc, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return startCmd(role, cmd, "READY", t)
}

// startCmd starts cmd; it is ready once it prints a line starting with
// readyPrefix on stdout. Its stderr goes to a log file under env.root.
func startCmd(role string, cmd *exec.Cmd, readyPrefix string, t *testing.T) (*proc, error) {
	logPath := filepath.Join(env.root, fmt.Sprintf("%s-%d.log", role, time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{role: role, cmd: cmd, log: logPath, ready: make(chan error, 1), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			if !said && strings.HasPrefix(strings.TrimSpace(sc.Text()), readyPrefix) {
				p.ready <- nil
				said = true
			}
		}
		if !said {
			p.ready <- fmt.Errorf("%s exited before it was ready; log %s:\n%s", role, logPath, tail(logPath))
		}
		cmd.Wait()
		close(p.done)
	}()
	if t != nil {
		t.Cleanup(p.kill)
	}
	return p, nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (p *proc) waitReady(d time.Duration) error {
	select {
	case err := <-p.ready:
		return err
	case <-time.After(d):
		return fmt.Errorf("%s not ready after %s; log:\n%s", p.role, d, tail(p.log))
	}
}

// kill is SIGKILL: the process gets no chance to finish anything.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to end cleanly.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
}

// rss returns the process's peak resident set size in KiB (VmHWM).
func (p *proc) rss() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

// runRole is main() of a child process.
func runRole(role string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if role == "server" {
		return runServer(ctx, log)
	}
	key, err := payloadcodec.LoadKey(os.Getenv(keyFileEnv))
	if err != nil {
		log.Error("codec key", "err", err)
		return 1
	}
	c, err := Dial(ctx, ClientConfig{HostPort: os.Getenv(addrEnv), Namespace: "default", CodecKey: key, Logger: log})
	if err != nil {
		log.Error("dial", "err", err)
		return 1
	}
	defer c.Close()
	cfg := Config{Client: c, Logger: log}
	if d, err := time.ParseDuration(os.Getenv(slowEnv)); err == nil && d > 0 {
		cfg.Interceptors = []interceptor.WorkerInterceptor{&holdInterceptor{hold: d}}
	}
	var w sdkworker.Worker
	switch role {
	case "coordinator":
		w, err = NewCoordinator(CoordinatorConfig{Config: cfg})
	case "host":
		w, err = NewHost(HostConfig{Config: cfg, Host: activities.HostIdentity{IP: os.Getenv(hostIPEnv), AgentPort: agentPort, HomePath: os.Getenv(homeEnv)}})
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		log.Error("worker", "err", err)
		return 1
	}
	if err := w.Start(); err != nil {
		log.Error("start worker", "err", err)
		return 1
	}
	fmt.Println("READY")
	<-ctx.Done()
	w.Stop()
	return 0
}

func runServer(ctx context.Context, log *slog.Logger) int {
	host, portText, _ := net.SplitHostPort(os.Getenv(addrEnv))
	port, _ := strconv.Atoi(portText)
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: os.Getenv(dataDirEnv), IP: host, Port: port, Headless: true, Logger: log})
	if err != nil {
		log.Error("start server", "err", err)
		return 1
	}
	fmt.Println("READY")
	<-ctx.Done()
	if err := srv.Stop(); err != nil {
		log.Error("stop server", "err", err)
		return 1
	}
	return 0
}

// holdInterceptor keeps the first attempt of every activity running for
// hold after its work is done (heartbeating), so a test can SIGKILL the
// worker while the stage runs and its side effects already happened: the
// retry on another worker must then find them and not repeat them.
type holdInterceptor struct {
	interceptor.WorkerInterceptorBase
	hold time.Duration
}

func (h *holdInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &holdActivity{hold: h.hold}
	i.Next = next
	return i
}

type holdActivity struct {
	interceptor.ActivityInboundInterceptorBase
	hold time.Duration
}

func (h *holdActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := h.Next.ExecuteActivity(ctx, in)
	if activity.GetInfo(ctx).Attempt == 1 {
		activity.GetLogger(ctx).Info("holding the first attempt", "for", h.hold)
		end := time.Now().Add(h.hold)
		for time.Now().Before(end) {
			activity.RecordHeartbeat(ctx)
			select {
			case <-ctx.Done():
				return res, err
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return res, err
}
