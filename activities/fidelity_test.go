package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obsim"
)

// TestObserverConnectionTimeouts checks the connection every SQL stage
// opens (observerDSN, used by openObserver and so by connectRoot): no client
// read or write deadline that would end a statement before the observer's
// own ob_query_timeout does, obshell's 60 s default for every session and
// its 1000 s for the long statements.
func TestObserverConnectionTimeouts(t *testing.T) {
	cfg := observerDSN("127.0.0.1:2881", "pw", "ocs")
	const longest = time.Duration(longQueryTimeoutUS) * time.Microsecond
	if longest != 1000*time.Second {
		t.Fatalf("long statements get %v, obshell gives BOOTSTRAP 1000 s", longest)
	}
	for name, d := range map[string]time.Duration{"read": cfg.ReadTimeout, "write": cfg.WriteTimeout} {
		if d != 0 && d < longest {
			t.Errorf("%s timeout %v: a statement may run %v (obshell sets none)", name, d, longest)
		}
	}
	if got := cfg.Params["ob_query_timeout"]; got != "60000000" {
		t.Errorf("ob_query_timeout in the DSN = %q, want obshell's 60000000", got)
	}
	if dsn := cfg.FormatDSN(); strings.Contains(dsn, "readTimeout") || strings.Contains(dsn, "writeTimeout") {
		t.Errorf("DSN %q sets a client deadline", dsn)
	}
}

// TestBootstrapRetriedWhileBootstrapping: the first attempt's client goes
// away while the observer bootstraps (its worker died); the retry's BOOTSTRAP
// is answered "observer is not empty" at once, the stage waits for the
// bootstrap under way and adds the third server. Then "Import script for
// tenant" on an OceanBase that answers LOAD MODULE DATA with 1064 falls back
// to bin/import_time_zone_info.py, as obshell does.
func TestBootstrapRetriedWhileBootstrapping(t *testing.T) {
	ctx := context.Background()
	hs := newSimHosts(t, "127.0.5.10", "127.0.5.11", "127.0.5.12")
	p := plan(t, hs)
	var wg sync.WaitGroup
	errs := make([]error, len(hs))
	for i, h := range hs {
		if _, err := h.acts.CreateWorkdir(ctx, WorkdirInput{Agent: h.Agent, Dirs: p.Servers[i].Dirs}); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.acts.StartObserver(ctx, StartObserverInput{Server: p.Servers[i], HealthCheck: true})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	master := hs[0].HomePath
	if err := obsim.WriteFaults(master, obsim.Faults{BootstrapDelayMS: 3000}); err != nil {
		t.Fatal(err)
	}
	cluster := NewClusterActivities(nil)
	in := ClusterInput{Plan: p, Master: hs[0].Agent, Tenant: obcluster.SysTenant}

	first, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	_, err := cluster.ClusterBootstrap(first, in)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first attempt: %v, want its context's end", err)
	}
	start := time.Now()
	res, err := cluster.ClusterBootstrap(ctx, in)
	if err != nil {
		t.Fatalf("retry: %v (logs %q)", err, res.Logs)
	}
	if !hasLog(res, "a bootstrap is under way") || time.Since(start) > 10*time.Second {
		t.Fatalf("retry took %v, logs %q", time.Since(start), res.Logs)
	}
	c, err := obsim.ReadCounters(master)
	if err != nil || c.Bootstrap != 2 || c.BootstrapOK != 1 || c.AddServer != 1 || c.AddServerOK != 1 {
		t.Fatalf("counters %+v, %v", c, err)
	}

	t.Run("import script fallback", func(t *testing.T) {
		if _, err := exec.LookPath("python"); err != nil {
			t.Skip("python is not installed: obshell's fallback runs `python`")
		}
		const pw = `p'w"\x`
		in := in
		in.RootPassword = pw
		if _, err := cluster.ModifyPassword(ctx, in); err != nil {
			t.Fatal(err)
		}
		if err := obsim.WriteFaults(master, obsim.Faults{StatementErrors: map[string]obsim.SQLErrorSpec{
			"alter system load module data": {Code: 1064, SQLState: "42000", Message: "You have an error in your SQL syntax"}}}); err != nil {
			t.Fatal(err)
		}
		noPython := NewClusterActivities(nil)
		noPython.Python = "obflow-test-no-such-python"
		_, err := noPython.ImportScript(ctx, in)
		wantCode(t, err, ErrEnvironmentWithoutPython)
		if !appErr(t, err).NonRetryable() {
			t.Fatal("a missing python is retryable")
		}

		res, err := cluster.ImportScript(ctx, in)
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		if !hasLog(res, "Use python to import timezone.") || !hasLog(res, "record count -- 4, expect count -- 4") {
			t.Fatalf("logs %q", res.Logs)
		}
		for _, l := range res.Logs {
			if strings.Contains(l, "p'w") {
				t.Fatalf("the root password is in the logs: %q", l)
			}
		}
		pool, _, err := connectRoot(ctx, &logbook{}, hostPort(hs[1].Agent.IP, obcluster.DefaultMySQLPort), "", time.Second, pw)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var n int
		if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM oceanbase.__all_tenant_time_zone_name").Scan(&n); err != nil || n != 4 {
			t.Fatalf("time zone names after the script: %d, %v", n, err)
		}
	})
}

// TestFindObserver is obshell's rule for "the observer of this home runs":
// the pid file, /proc/<pid>, and a working directory other than
// <home>/run; the command line does not matter.
func TestFindObserver(t *testing.T) {
	home := t.TempDir()
	run := filepath.Join(home, "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	sleeper := func(dir, argv0 string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("/bin/bash", "-c", "exec -a "+argv0+" sleep 60")
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		for deadline := time.Now().Add(5 * time.Second); ; {
			if argv, err := procArgv(cmd.Process.Pid); err == nil && argv[0] == argv0 {
				return cmd // bash has exec'd
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not start", argv0)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	writePid := func(s string) {
		t.Helper()
		if err := os.WriteFile(pidFile(home), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	find := func() *observerProc {
		t.Helper()
		p, err := findObserver(home)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	if p := find(); p != nil {
		t.Fatalf("no pid file: found %+v", p)
	}
	writePid("not a pid\n")
	if p := find(); p != nil {
		t.Fatalf("garbled pid file: found %+v", p)
	}

	// Any argv[0] will do, in a working directory other than <home>/run.
	other := sleeper(home, "my-observer")
	writePid(strconv.Itoa(other.Process.Pid) + "\n")
	p := find()
	if p == nil || p.PID != other.Process.Pid || len(p.Argv) == 0 || p.Argv[0] != "my-observer" {
		t.Fatalf("observer with another argv[0]: %+v", p)
	}

	// A process working in <home>/run is not the observer (obshell's rule).
	inRun := sleeper(run, "observer")
	writePid(strconv.Itoa(inRun.Process.Pid))
	if p := find(); p != nil {
		t.Fatalf("process in the run dir counted as observer: %+v", p)
	}

	// A pid that is gone, and a zombie, are no observer.
	other.Process.Kill()
	writePid(strconv.Itoa(other.Process.Pid))
	deadline := time.Now().Add(5 * time.Second)
	for find() != nil { // a zombie until reaped below, gone after
		if time.Now().After(deadline) {
			t.Fatal("a killed process still counts as observer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	other.Wait()
	if p := find(); p != nil {
		t.Fatalf("dead pid: found %+v", p)
	}
}

// TestObserverWithAnotherArgv0 starts the simulator with another argv[0]
// (as a real observer may present): "Start observer" recognises it as
// already running with the same arguments, and "Stop observer" stops it.
func TestObserverWithAnotherArgv0(t *testing.T) {
	ctx := context.Background()
	hs := newSimHosts(t, "127.0.5.13")
	h := hs[0]
	p := plan(t, hs)
	s := p.Servers[0]
	if _, err := h.acts.CreateWorkdir(ctx, WorkdirInput{Agent: h.Agent, Dirs: s.Dirs}); err != nil {
		t.Fatal(err)
	}
	cfg, err := firstStartConfig(s.Config, h.Agent.IP, h.HomePath)
	if err != nil {
		t.Fatal(err)
	}
	args := startArgs(cfg)
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	cmd := exec.Command("/bin/bash", "-c", fmt.Sprintf("exec -a observer %s %s", shellQuote(observerPath(h.HomePath)), strings.Join(quoted, " ")))
	cmd.Dir = h.HomePath
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("start with argv[0] \"observer\": %v\n%s", err, out)
	}
	running, err := findObserver(h.HomePath)
	if err != nil || running == nil || running.Argv[0] != "observer" || !slices.Equal(running.args(), args) {
		t.Fatalf("running observer %+v, %v", running, err)
	}
	res, err := h.acts.StartObserver(ctx, StartObserverInput{Server: s, HealthCheck: true})
	if err != nil || res.PID != running.PID || !hasLog(res.Result, "already running with the same arguments") {
		t.Fatalf("start: pid %d (running %d), %v, logs %q", res.PID, running.PID, err, res.Logs)
	}
	if _, err := h.acts.StopObserver(ctx, StartObserverInput{Server: s}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(running.PID, 0); err == nil && !zombie(running.PID) {
		t.Fatalf("observer %d still runs after Stop observer", running.PID)
	}
}
