package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/pgtest"
	"github.com/obflow/obflow/internal/temporalclient"
)

// serverTestIP is this package's loopback address for `obflow server`
// (ARCHITECTURE.md gives cmd/obflow 127.0.0.2-254).
const serverTestIP = "127.0.0.2"

// TestServerBinary builds the obflow binary once and runs it as a separate
// process, the way users do.
func TestServerBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the obflow binary")
	}
	bin := filepath.Join(t.TempDir(), "obflow")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Temporal server 1.32.1") {
			t.Fatalf("obflow version: %v: %s", err, out)
		}
	})
	t.Run("busy port", func(t *testing.T) { testBusyPort(t, bin) })
	t.Run("unwritable data dir", func(t *testing.T) { testUnwritableDataDir(t, bin) })
	t.Run("persistence across SIGKILL", func(t *testing.T) { testPersistenceAcrossKill(t, bin) })
	t.Run("postgres", func(t *testing.T) { testPostgres(t, bin) })
	t.Run("metrics", func(t *testing.T) { testServerMetrics(t, bin) })
}

// serverProc is a running `obflow server`.
type serverProc struct {
	cmd    *exec.Cmd
	stdout *bufio.Scanner
	stderr *strings.Builder
	done   chan error
	// lines are the stdout lines, as long as someone reads them.
	lines chan string
}

type serverPorts struct{ port, ui, codec int }

func freeServerPorts(t *testing.T) serverPorts {
	t.Helper()
	var ps [3]int
	for i := range ps {
		p, err := devserver.FreePort(serverTestIP)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	return serverPorts{ps[0], ps[1], ps[2]}
}

func (p serverPorts) args(dataDir string) []string {
	return []string{"server", "--data-dir", dataDir, "--ip", serverTestIP,
		"--port", fmt.Sprint(p.port), "--ui-port", fmt.Sprint(p.ui), "--codec-port", fmt.Sprint(p.codec)}
}

// startServer runs the binary and waits for its ready line.
func startServer(t *testing.T, bin string, args []string) *serverProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd, stdout: bufio.NewScanner(stdout), stderr: &strings.Builder{}, done: make(chan error, 1), lines: make(chan string, 64)}
	cmd.Stderr = p.stderr
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		for p.stdout.Scan() {
			line := p.stdout.Text()
			if strings.HasPrefix(line, "Temporal server:") {
				ready <- line
			}
			select {
			case p.lines <- line:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case line := <-ready:
		t.Logf("%s (process start to ready: %v)", line, time.Since(began).Round(time.Millisecond))
	case err := <-p.done:
		t.Fatalf("obflow server exited before ready: %v\n%s", err, p.stderr)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("obflow server not ready after 2m\n%s", p.stderr)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// runToExit runs the binary expecting it to fail fast.
func runToExit(t *testing.T, bin string, args ...string) (exitCode int, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("obflow %v: err = %v, want a non-zero exit\n%s", args, err, errBuf.String())
	}
	return ee.ExitCode(), errBuf.String()
}

func testBusyPort(t *testing.T, bin string) {
	for _, name := range []string{"port", "ui-port", "codec-port"} {
		ports := freeServerPorts(t)
		busy := map[string]int{"port": ports.port, "ui-port": ports.ui, "codec-port": ports.codec}[name]
		l, err := net.Listen("tcp", net.JoinHostPort(serverTestIP, fmt.Sprint(busy)))
		if err != nil {
			t.Fatal(err)
		}
		code, stderr := runToExit(t, bin, ports.args(t.TempDir())...)
		l.Close()
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		last := lines[len(lines)-1]
		if code == 0 || !strings.Contains(last, fmt.Sprintf("port %d is already in use", busy)) {
			t.Errorf("--%s busy: exit %d, stderr:\n%s", name, code, stderr)
		}
	}
}

func testUnwritableDataDir(t *testing.T, bin string) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freeServerPorts(t)
	code, stderr := runToExit(t, bin, ports.args(filepath.Join(file, "data"))...)
	if code == 0 || !strings.Contains(stderr, "data dir") || !strings.Contains(stderr, "not writable") ||
		strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

const resumeSignal = "resume"

// waitForSignalAndTimer records a step, then waits on a timer and a signal:
// both must survive the server being killed.
func waitForSignalAndTimer(ctx workflow.Context) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var before string
	if err := workflow.ExecuteActivity(ctx, persistStep, "before").Get(ctx, &before); err != nil {
		return "", err
	}
	if err := workflow.Sleep(ctx, 3*time.Second); err != nil {
		return "", err
	}
	var sig string
	workflow.GetSignalChannel(ctx, resumeSignal).Receive(ctx, &sig)
	var after string
	if err := workflow.ExecuteActivity(ctx, persistStep, "after-"+sig).Get(ctx, &after); err != nil {
		return "", err
	}
	return before + "," + after, nil
}

func persistStep(_ context.Context, name string) (string, error) { return name, nil }

func testPersistenceAcrossKill(t *testing.T, bin string) {
	dataDir := t.TempDir()
	ports := freeServerPorts(t)
	srv := startServer(t, bin, ports.args(dataDir))

	// Everything a real obflow command would do: temporalclient with the
	// server's codec key.
	quiet := slog.New(slog.DiscardHandler)
	cfg := temporalclient.Config{
		Address:      net.JoinHostPort(serverTestIP, fmt.Sprint(ports.port)),
		CodecKeyFile: filepath.Join(dataDir, devserver.CodecKeyFile),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dialed := time.Now()
	c, err := temporalclient.Dial(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	w := worker.New(c, "persist", worker.Options{})
	w.RegisterWorkflow(waitForSignalAndTimer)
	w.RegisterActivity(persistStep)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "persist-across-kill", TaskQueue: "persist"}, waitForSignalAndTimer)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first workflow started %v after dialing", time.Since(dialed).Round(time.Millisecond))

	// Kill once the timer is running.
	waitForEvent(t, ctx, c, run.GetID(), enumspb.EVENT_TYPE_TIMER_STARTED)
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	srv = startServer(t, bin, ports.args(dataDir))

	if err := c.SignalWorkflow(ctx, run.GetID(), "", resumeSignal, "ok"); err != nil {
		t.Fatalf("signal after restart: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow after restart: %v", err)
	}
	if got != "before,after-ok" {
		t.Fatalf("result = %q", got)
	}

	// SIGTERM stops it cleanly.
	w.Stop()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("obflow server did not exit within 1m of SIGTERM")
	}
}

func waitForEvent(t *testing.T, ctx context.Context, c client.Client, id string, want enumspb.EventType) {
	t.Helper()
	for {
		iter := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetEventType() == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %v event in %s", want, id)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// testPostgres runs the server on a throwaway PostgreSQL with
// --history-shards, checks the URL's password shows nowhere, restarts it
// without the flag, and checks a different shard count is refused in one
// line.
func testPostgres(t *testing.T, bin string) {
	dbURL := pgtest.Start(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	dataDir := t.TempDir()
	ports := freeServerPorts(t)
	args := append(ports.args(dataDir), "--headless", "--db", dbURL)

	srv := startServer(t, bin, append(args, "--history-shards", "2"))
	var dbLine string
	for dbLine == "" {
		select {
		case line := <-srv.lines:
			if strings.HasPrefix(line, "Database:") {
				dbLine = line
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no Database: line")
		}
	}
	redacted := strings.Replace(dbURL, url.UserPassword(u.User.Username(), password).String(), u.User.Username()+":xxxxx", 1)
	if want := fmt.Sprintf("Database:        %s (2 history shards)", redacted); dbLine != want {
		t.Errorf("printed %q, want %q", dbLine, want)
	}
	stopServer(t, srv)

	// Restart without --history-shards: the store keeps its 2.
	srv = startServer(t, bin, args)
	stopServer(t, srv)

	code, stderr := runToExit(t, bin, append(args, "--history-shards", "3")...)
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 ||
		!strings.Contains(stderr, "created with 2 history shards, not 3") || !strings.Contains(stderr, "xxxxx") {
		t.Errorf("--history-shards 3 on a 2-shard store: exit %d, stderr:\n%s", code, stderr)
	}
	for _, out := range []string{stderr, srv.stderr.String()} {
		if strings.Contains(out, password) {
			t.Errorf("the database password shows in:\n%s", out)
		}
	}
	log, err := os.ReadFile(filepath.Join(dataDir, devserver.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), password) {
		t.Error("the database password is in the server log")
	}
}

// stopServer stops the server with SIGTERM and waits for a clean exit.
func stopServer(t *testing.T, srv *serverProc) {
	t.Helper()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.stderr)
		}
	case <-time.After(time.Minute):
		t.Fatal("obflow server did not exit within 1m of SIGTERM")
	}
}
