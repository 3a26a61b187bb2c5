package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/obflow/obflow/internal/obcluster"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/devstack"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/internal/obsim"
)

// These tests run the real obflow binary: the dev stack (embedded Temporal, agents, workers,
// simulated observers on loopback addresses) and the client commands against it, over HTTP.
// Each test uses its own addresses from cmd/obflow's range (127.0.0.2–254) so they can run in
// parallel with each other.

var obflowBin struct {
	once sync.Once
	path string
	err  error
}

// binary builds cmd/obflow once per test process.
func binary(t *testing.T) string {
	t.Helper()
	obflowBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "obflow-cli-test-")
		if err != nil {
			obflowBin.err = err
			return
		}
		obflowBin.path = filepath.Join(dir, "obflow")
		out, err := exec.Command("go", "build", "-o", obflowBin.path, ".").CombinedOutput()
		if err != nil {
			obflowBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if obflowBin.err != nil {
		t.Fatal(obflowBin.err)
	}
	return obflowBin.path
}

// result of one finished command.
type result struct {
	code           int
	stdout, stderr string
}

// run runs obflow to completion with extra environment.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	res := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("obflow %v: %v", args, err)
	}
	t.Logf("obflow %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	return res
}

// cleanEnv is the test's environment without obflow's own variables, so a developer's shell does
// not leak into the tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OBFLOW_") && !strings.HasPrefix(kv, "TEMPORAL_") {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a long-running obflow (dev, demo) whose output is followed line by line.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
	code  int
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	p := &proc{t: t, cmd: cmd, added: make(chan struct{}, 1), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		t.Logf("obflow %s output:\n%s", strings.Join(args, " "), p.output())
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitFor waits for an output line matching re and returns its submatches.
func (p *proc) waitFor(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-p.added:
		case <-p.done:
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if !more {
				p.t.Fatalf("obflow exited (%d) before printing %q:\n%s", p.code, re, p.output())
			}
		case <-deadline:
			p.t.Fatalf("no line matching %q after %s:\n%s", re, timeout, p.output())
		}
	}
}

// interrupt sends Ctrl-C and waits for the exit code.
func (p *proc) interrupt(timeout time.Duration) int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.t.Fatalf("obflow did not stop within %s of SIGINT", timeout)
		return -1
	}
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// stack is `obflow dev` on a fresh data dir, three hosts from firstIP.
type stack struct {
	dir, firstIP string
	dev          *proc
	hosts        []devstack.Host
	uiURL        string
}

var (
	reWebUI = regexp.MustCompile(`^Web UI\s+(http://\S+)`)
	reReady = regexp.MustCompile(`^Ctrl-C stops the stack`)
)

func devArgs(dir, firstIP string) []string {
	return []string{"--data-dir", dir, "--first-ip", firstIP, "--temporal-port", "0", "--ui-port", "0", "--codec-port", "0"}
}

func startDev(t *testing.T, dir, firstIP string) *stack {
	t.Helper()
	p := start(t, nil, append([]string{"dev"}, devArgs(dir, firstIP)...)...)
	ui := p.waitFor(reWebUI, 5*time.Minute)[1]
	p.waitFor(reReady, 2*time.Minute)
	s := &stack{dir: dir, firstIP: firstIP, dev: p, uiURL: ui}
	for i := 0; i < 3; i++ {
		ip := fmt.Sprintf("%s%d", firstIP[:strings.LastIndex(firstIP, ".")+1], lastOctet(firstIP)+i)
		s.hosts = append(s.hosts, devstack.Host{IP: ip, AgentPort: 2886, Zone: fmt.Sprintf("zone%d", i+1), Home: filepath.Join(dir, "hosts", ip)})
	}
	t.Cleanup(func() { _ = devstack.StopObservers(s.hosts, 10*time.Second) })
	return s
}

func lastOctet(ip string) int {
	var a, b, c, d int
	fmt.Sscanf(ip, "%d.%d.%d.%d", &a, &b, &c, &d)
	return d
}

var reInitDone = regexp.MustCompile(`^Cluster \S+ initialized: Initialize cluster (\d+)`)

// TestDemoExitWhenDone is the README's demo command: it creates the cluster over HTTP and exits
// 0. The browser check then looks at the init workflow in the Web UI of `obflow dev` on the same
// data dir.
func TestDemoExitWhenDone(t *testing.T) {
	dir := t.TempDir()
	binary(t) // not part of the wall time
	t0 := time.Now()
	res := run(t, nil, append([]string{"demo", "--exit-when-done"}, devArgs(dir, "127.0.0.10")...)...)
	wall := time.Since(t0)
	if res.code != 0 {
		t.Fatalf("demo exited %d", res.code)
	}
	t.Logf("demo wall time: %s", wall)
	m := regexp.MustCompile(`(?m)^Cluster obdemo initialized: Initialize cluster (\d+), 11 stages`).FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("no success line in:\n%s", res.stdout)
	}
	initID := m[1]
	for _, want := range []string{
		"==> Join self (127.0.0.10:2886, zone1)",
		"==> Join 127.0.0.11:2886 (zone2) to the master",
		"==> Cluster config (obdemo, id 1, root password)",
		"stage 11/11 Synchronize agent from cluster",
		"/namespaces/default/workflows/dag-" + initID,
		"obflow dag show " + initID + " --agent 127.0.0.10:2886",
		"curl -s http://127.0.0.10:2886/api/v1/info",
		"temporal workflow show --address 127.0.0.1:",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}

	// `obflow dev` on the same data dir brings the stack back with the cluster; the printed
	// inspect command works (the password is in the data dir).
	s := startDev(t, dir, "127.0.0.10")
	pwd, err := os.ReadFile(filepath.Join(dir, "root-password"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"OBFLOW_ROOT_PASSWORD=" + strings.TrimSpace(string(pwd))}
	show := run(t, env, "dag", "show", initID, "--agent", "127.0.0.10:2886")
	if show.code != 0 || !strings.Contains(show.stdout, "Initialize cluster  SUCCEED  stage 11/11") {
		t.Errorf("dag show after the demo: %d\n%s", show.code, show.stdout)
	}

	t.Run("browser", func(t *testing.T) { checkWebUI(t, s, initID) })
}

// TestCreateShowAndBadInput: `cluster create -f` from a YAML file, `dag show`, `agent info`, and
// bad input to every client command.
func TestCreateShowAndBadInput(t *testing.T) {
	s := startDev(t, t.TempDir(), "127.0.0.20")
	yamlFile := filepath.Join(t.TempDir(), "cluster.yaml")
	topo, err := os.ReadFile(filepath.Join(s.dir, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The file dev wrote, with a global config added: what a user would edit.
	topo = bytes.Replace(topo, []byte("servers:"), []byte("global:\n  memory_limit: 6G\n  datafile_size: 2G\nservers:"), 1)
	if err := os.WriteFile(yamlFile, topo, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"OBFLOW_ROOT_PASSWORD=s3cret-Pa55"}

	// Bad input before anything exists: one line on stderr, a non-zero code, no stack trace.
	badYAML := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badYAML, []byte("cluster: [\n"), 0o644)
	invalid := filepath.Join(t.TempDir(), "invalid.yaml")
	os.WriteFile(invalid, []byte("cluster: {name: x, id: 1}\nservers: [{ip: 127.0.0.29, zone: z}, {ip: 300.1.1.1, zone: z}]\n"), 0o644)
	unknownHost := filepath.Join(t.TempDir(), "unknown.yaml")
	os.WriteFile(unknownHost, []byte("cluster: {name: x, id: 1}\nservers: [{ip: 127.0.0.29, zone: z}]\n"), 0o644)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"missing file", env, []string{"cluster", "create", "-f", "/nonexistent/cluster.yaml"}, exitUsage, "no such file"},
		{"no -f", env, []string{"cluster", "create"}, exitUsage, "give the topology file"},
		{"bad yaml", env, []string{"cluster", "create", "-f", badYAML}, exitUsage, "bad YAML"},
		{"invalid topology", env, []string{"cluster", "create", "-f", invalid}, exitUsage, `"300.1.1.1" is not an IP address`},
		{"no password, no terminal", nil, []string{"cluster", "create", "-f", yamlFile}, exitAuth, "OBFLOW_ROOT_PASSWORD"},
		{"unknown host", env, []string{"cluster", "create", "-f", unknownHost}, exitError, "cannot reach the agent at 127.0.0.29:2886"},
		{"agent info unknown host", nil, []string{"agent", "info", "127.0.0.29:2886"}, exitError, "cannot reach the agent"},
		{"agent info not an address", nil, []string{"agent", "info", "nosuchhost:2886"}, exitUsage, "not an IP address"},
		{"dag show bad id", env, []string{"dag", "show", "xyz", "--agent", s.hosts[0].Agent()}, exitUsage, "is not a DAG id"},
		{"dag show no agent", env, []string{"dag", "show", "123"}, exitUsage, "no agent"},
		{"dag retry extra arg", env, []string{"dag", "retry", "1", "2"}, exitUsage, "usage:"},
		{"unknown flag", env, []string{"dag", "watch", "--nope", "1"}, exitUsage, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, tc.args...)
			checkOneLineError(t, r, tc.code, tc.msg)
		})
	}

	res := run(t, env, "cluster", "create", "-f", yamlFile, "--poll", "300ms")
	if res.code != 0 {
		t.Fatalf("cluster create exited %d", res.code)
	}
	m := regexp.MustCompile(`(?m)^Cluster obdemo initialized: Initialize cluster (\d+)`).FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("no success line:\n%s", res.stdout)
	}
	initID := m[1]
	if !strings.Contains(res.stdout, "==> Observer config (global)") {
		t.Errorf("the global config of the file was not sent:\n%s", res.stdout)
	}

	// show: the tree names every stage and host; --json is the DTO.
	show := run(t, env, "dag", "show", initID)
	if show.code != 0 {
		t.Fatalf("dag show exited %d", show.code)
	}
	for _, want := range []string{`Initialize cluster  SUCCEED  stage 11/11`, `Cluster boostrap`, `Start observer`, `127\.0\.0\.22:2886\s+SUCCEED  attempts 1`} {
		if !regexp.MustCompile(want).MatchString(show.stdout) {
			t.Errorf("dag show lacks %q", want)
		}
	}
	js := run(t, env, "dag", "show", initID, "--json")
	if js.code != 0 || !strings.Contains(js.stdout, `"max_stage": 11`) {
		t.Errorf("dag show --json: %d\n%s", js.code, js.stdout)
	}
	info := run(t, nil, "agent", "info", s.hosts[1].Agent())
	if info.code != 0 || !strings.Contains(info.stdout, "CLUSTER AGENT") || !strings.Contains(info.stdout, "ob state    3") {
		t.Errorf("agent info: %d\n%s", info.code, info.stdout)
	}

	// After init the API wants the root password.
	checkOneLineError(t, run(t, []string{"OBFLOW_ROOT_PASSWORD=wrong"}, "dag", "show", initID), exitAuth, "OBFLOW_ROOT_PASSWORD")
	notFound, _ := obshell.EncodeLocalID(obcluster.Agent{IP: "127.0.0.20", Port: 2886}, 99999)
	checkOneLineError(t, run(t, env, "dag", "show", notFound), exitNotFound, "")
	// Creating it again is refused plainly.
	checkOneLineError(t, run(t, env, "cluster", "create", "-f", yamlFile), exitError, "already initialized")
}

func checkOneLineError(t *testing.T, r result, code int, msg string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d", r.code, code)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "obflow: ") {
		t.Errorf("stderr is not one obflow: line:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, msg) {
		t.Errorf("stderr %q lacks %q", r.stderr, msg)
	}
	for _, bad := range []string{"goroutine ", "panic:", ".go:"} {
		if strings.Contains(r.stderr+r.stdout, bad) {
			t.Errorf("output contains %q (a stack trace?)", bad)
		}
	}
}

// TestOperatorsReachSpecOutcomes: a slow observer start is cancelled (FAILED/CANCEL) and rolled
// back (SUCCEED/ROLLBACK); a failing bootstrap is explained by `dag show` (stage, host, last log
// line), retried while still failing (exit 3) and retried after the fix (SUCCEED/RUN).
func TestOperatorsReachSpecOutcomes(t *testing.T) {
	s := startDev(t, t.TempDir(), "127.0.0.30")
	const pwd = "Op3rators!"
	env := []string{"OBFLOW_ROOT_PASSWORD=" + pwd}
	master := s.hosts[0]
	slow := s.hosts[2]
	if err := obsim.WriteFaults(slow.Home, obsim.Faults{StartDelayMS: 120_000}); err != nil {
		t.Fatal(err)
	}

	create := start(t, env, "cluster", "create", "-f", filepath.Join(s.dir, "cluster.yaml"), "--poll", "300ms")
	id := create.waitFor(regexp.MustCompile(`^\s+DAG (\d+) "Initialize cluster"`), 4*time.Minute)[1]
	create.waitFor(regexp.MustCompile(`stage 3/\d+ Start observer`), 4*time.Minute)

	cancel := run(t, env, "dag", "cancel", id, "--poll", "300ms")
	if cancel.code != 0 || !strings.Contains(cancel.stdout, "FAILED/CANCEL after CANCEL") {
		t.Fatalf("cancel: %d\n%s", cancel.code, cancel.stdout)
	}
	select {
	case <-create.done:
		if create.code != exitDagFailed {
			t.Errorf("cluster create exited %d after the cancel, want %d", create.code, exitDagFailed)
		}
	case <-time.After(time.Minute):
		t.Fatal("cluster create still runs after its init was cancelled")
	}

	if err := obsim.WriteFaults(slow.Home, obsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	rb := run(t, env, "dag", "rollback", id, "--poll", "300ms")
	if rb.code != 0 || !strings.Contains(rb.stdout, "SUCCEED/ROLLBACK after ROLLBACK") {
		t.Fatalf("rollback: %d\n%s", rb.code, rb.stdout)
	}

	// A bootstrap that fails, started through the API as an SDK would.
	if err := obsim.WriteFaults(master.Home, obsim.Faults{BootstrapError: &obsim.SQLErrorSpec{Code: 4012, Message: "simulated bootstrap timeout"}}); err != nil {
		t.Fatal(err)
	}
	c, err := obshellclient.New(master.Agent(), obshellclient.WithPassword(pwd))
	if err != nil {
		t.Fatal(err)
	}
	ctx, done := context.WithTimeout(context.Background(), 5*time.Minute)
	defer done()
	dag, err := c.Init(ctx, obshell.ObInitParam{})
	if err != nil {
		t.Fatalf("second init: %v", err)
	}
	if _, err := c.WaitDagSucceed(ctx, dag.GenericID, 300*time.Millisecond); err == nil {
		t.Fatal("init with a failing bootstrap succeeded")
	}
	show := run(t, env, "dag", "show", dag.GenericID)
	if show.code != exitDagFailed {
		t.Errorf("dag show of a failed DAG exited %d, want %d", show.code, exitDagFailed)
	}
	for _, want := range []string{`FAILED at stage 4/11 "Cluster boostrap"`, "on " + master.Agent(), "simulated bootstrap timeout", "obflow dag retry " + dag.GenericID} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("dag show of the failed DAG lacks %q", want)
		}
	}
	if !strings.Contains(show.stderr, "Cluster boostrap") || !strings.Contains(show.stderr, master.Agent()) {
		t.Errorf("the one-line error does not name stage and host: %q", show.stderr)
	}

	still := run(t, env, "dag", "retry", dag.GenericID, "--poll", "300ms")
	if still.code != exitDagFailed || !strings.Contains(still.stderr, "simulated bootstrap timeout") {
		t.Errorf("retry while the fault is on: %d, stderr %q", still.code, still.stderr)
	}
	if err := obsim.WriteFaults(master.Home, obsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	retry := run(t, env, "dag", "retry", dag.GenericID, "--poll", "300ms")
	if retry.code != 0 || !strings.Contains(retry.stdout, "SUCCEED/RUN after RETRY") {
		t.Fatalf("retry after the fix: %d\n%s", retry.code, retry.stdout)
	}
}

// TestDevResumesInterruptedDemo: Ctrl-C during `obflow demo` mid-init, then `obflow dev` on the
// same data dir: the init finishes.
func TestDevResumesInterruptedDemo(t *testing.T) {
	dir := t.TempDir()
	// A slow bootstrap leaves time to interrupt in the middle of the init.
	master := filepath.Join(dir, "hosts", "127.0.0.40")
	if err := obsim.WriteFaults(master, obsim.Faults{BootstrapDelayMS: 4000}); err != nil {
		t.Fatal(err)
	}
	demo := start(t, nil, append([]string{"demo"}, devArgs(dir, "127.0.0.40")...)...)
	id := demo.waitFor(regexp.MustCompile(`^\s+DAG (\d+) "Initialize cluster"`), 5*time.Minute)[1]
	demo.waitFor(regexp.MustCompile(`stage 4/11 Cluster boostrap`), 4*time.Minute)
	if code := demo.interrupt(time.Minute); code == 0 {
		t.Errorf("an interrupted demo exited 0")
	}

	s := startDev(t, dir, "127.0.0.40")
	if !strings.Contains(s.dev.output(), id+"  Initialize cluster") {
		t.Errorf("dev did not report the init it resumes")
	}
	pwd, err := os.ReadFile(filepath.Join(dir, "root-password"))
	if err != nil {
		t.Fatal(err)
	}
	watch := run(t, []string{"OBFLOW_ROOT_PASSWORD=" + strings.TrimSpace(string(pwd))}, "dag", "watch", id, "--poll", "300ms")
	if watch.code != 0 || !strings.Contains(watch.stdout, "SUCCEED/RUN, stage 11/11") {
		t.Fatalf("the resumed init did not finish: %d\n%s", watch.code, watch.stdout)
	}
}
