package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obsim"
)

// simHost is one simulated host of the activities tests: an agent address
// in 127.0.5.x (this package's loopback range) and an observer home with
// the simulator installed as bin/observer.
type simHost struct {
	obcluster.Host
	acts *HostActivities
}

func newSimHosts(t *testing.T, ips ...string) []simHost {
	t.Helper()
	var hs []simHost
	for i, ip := range ips {
		home := filepath.Join(t.TempDir(), fmt.Sprintf("ob%d", i+1))
		if err := obsim.Install(home); err != nil {
			t.Fatalf("install simulator: %v", err)
		}
		// Two zones, so that bootstrap has both a root server per zone and
		// a server to add: zone1 = hosts 1 and 3, zone2 = host 2.
		key, err := hybridauth.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		// What the agent reported at join. The second host is an ARM one,
		// so a row that took the coordinator's architecture shows.
		arch := "x86_64"
		if i == 1 {
			arch = "aarch64"
		}
		h := obcluster.Host{Agent: obcluster.Agent{IP: ip, Port: obcluster.DefaultAgentPort}, Zone: fmt.Sprintf("zone%d", 2-(i+1)%2), HomePath: home,
			Version: "4.2.5.0-100000012024061316", OS: "linux", Architecture: arch, PublicKey: key.PublicKeyBase64()}
		acts := NewHostActivities(HostIdentity{IP: ip, AgentPort: obcluster.DefaultAgentPort, HomePath: home}, nil)
		acts.HealthTimeout = 30 * time.Second
		acts.KillTimeout = 10 * time.Second
		hs = append(hs, simHost{Host: h, acts: acts})
		t.Cleanup(func() {
			if p, _ := findObserver(home); p != nil {
				killObserver(p.PID)
			}
		})
	}
	return hs
}

func plan(t *testing.T, hs []simHost) IntegrateConfigResult {
	t.Helper()
	in := IntegrateConfigInput{Master: hs[0].Agent, Cluster: obcluster.ClusterConfig{Name: "obcluster", ID: 7},
		Observer: obcluster.ObserverConfig{Global: map[string]obcluster.ConfigValue{"memory_limit": {Value: "6G", Revision: 1}, "datafile_size": {Value: "2G", Revision: 1}}}}
	for _, h := range hs {
		in.Hosts = append(in.Hosts, h.Host)
	}
	res, err := IntegrateConfig(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	ae := appErr(t, err)
	if ae.Type() != code {
		t.Fatalf("error type %s (%v), want %s", ae.Type(), ae, code)
	}
	var logs []string
	if err := ae.Details(&logs); err != nil {
		t.Fatalf("details: %v", err)
	}
}

func hasLog(r Result, part string) bool {
	return slices.ContainsFunc(r.Logs, func(l string) bool { return strings.Contains(l, part) })
}

// TestInitStages runs every stage against three real simulated observers,
// each one twice to prove the second delivery changes nothing.
func TestInitStages(t *testing.T) {
	ctx := context.Background()
	hs := newSimHosts(t, "127.0.5.2", "127.0.5.3", "127.0.5.4")
	p := plan(t, hs)
	const rootPwd = `pw'"\x`

	// Stage 2: work dirs, twice.
	for _, h := range hs {
		s := p.Servers[slices.IndexFunc(p.Servers, func(s obcluster.ServerPlan) bool { return s.Host.Agent == h.Agent })]
		for i := 0; i < 2; i++ {
			if _, err := h.acts.CreateWorkdir(ctx, WorkdirInput{Agent: h.Agent, Dirs: s.Dirs}); err != nil {
				t.Fatalf("create workdir %s (round %d): %v", h.Agent, i, err)
			}
		}
		for _, d := range []string{"store/clog", "store/slog", "store/sstable", "etc", "log"} {
			if fi, err := os.Stat(filepath.Join(h.HomePath, d)); err != nil || !fi.IsDir() {
				t.Fatalf("%s: %v", d, err)
			}
		}
	}

	// Stage 3: start all three in parallel, then again.
	pids := make([]int, len(hs))
	var wg sync.WaitGroup
	errs := make([]error, len(hs))
	for i, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.acts.StartObserver(ctx, StartObserverInput{Server: p.Servers[i], HealthCheck: true})
			pids[i], errs[i] = res.PID, err
		}()
	}
	wg.Wait()
	for i, h := range hs {
		if errs[i] != nil {
			t.Fatalf("start %s: %v", h.Agent, errs[i])
		}
		argv, err := procArgv(pids[i])
		if err != nil {
			t.Fatal(err)
		}
		want := []string{h.HomePath + "/bin/observer", "-n", "obcluster", "-c", "7", "-z", h.Zone, "-I", h.Agent.IP, "-d", h.HomePath + "/store",
			"-p", "2881", "-P", "2882", "-o", "datafile_size=2G,memory_limit=6G"}
		if !slices.Equal(argv, want) {
			t.Fatalf("observer argv\n%q\nwant\n%q", argv, want)
		}
		res, err := h.acts.StartObserver(ctx, StartObserverInput{Server: p.Servers[i], HealthCheck: true})
		if err != nil || res.PID != pids[i] || !hasLog(res.Result, "already running with the same arguments") {
			t.Fatalf("second start: pid %d (first %d), %v, logs %q", res.PID, pids[i], err, res.Logs)
		}
	}

	// A populated store is no longer an empty work dir.
	if _, err := hs[0].acts.CreateWorkdir(ctx, WorkdirInput{Agent: hs[0].Agent, Dirs: p.Servers[0].Dirs}); err == nil {
		t.Fatal("create workdir over a running observer's store succeeded")
	} else {
		wantCode(t, err, ErrCommonDirNotEmpty)
	}

	cluster := NewClusterActivities(nil)
	in := ClusterInput{Plan: p, Master: hs[0].Agent, RootPassword: rootPwd, ProxyroPassword: "proxy'pw", Tenant: obcluster.SysTenant}
	for i := 0; i < 2; i++ {
		res, err := cluster.ClusterBootstrap(ctx, in)
		if err != nil {
			t.Fatalf("bootstrap round %d: %v", i, err)
		}
		if i == 1 && !hasLog(res, "already bootstrapped") {
			t.Fatalf("second bootstrap logs %q", res.Logs)
		}
	}
	c, err := obsim.ReadCounters(hs[0].HomePath)
	if err != nil {
		t.Fatal(err)
	}
	// The second delivery sent BOOTSTRAP again (answered 4015) and added
	// no server.
	if c.Bootstrap != 2 || c.BootstrapOK != 1 || c.AddServer != 1 || c.AddServerOK != 1 {
		t.Fatalf("counters after bootstrap: %+v", c)
	}

	for _, step := range []struct {
		name string
		fn   func(context.Context, ClusterInput) (Result, error)
	}{
		{"migrate table", cluster.MigrateTable},
		{"modify password", cluster.ModifyPassword},
		{"create user", cluster.CreateUser},
		{"migrate data", cluster.MigrateData},
		{"convert follower", cluster.ConvertFollower},
	} {
		for i := 0; i < 2; i++ {
			if _, err := step.fn(ctx, in); err != nil {
				t.Fatalf("%s round %d: %v", step.name, i, err)
			}
		}
	}
	if c, _ = obsim.ReadCounters(hs[0].HomePath); c.AlterUser != 1 || c.AlterUserOK != 1 {
		t.Fatalf("ALTER USER counted %+v", c)
	}
	// proxyro logs in with its password, quotes and all.
	if err := obsim.Login(context.Background(), hostPort(hs[1].Agent.IP, obcluster.DefaultMySQLPort), "proxyro", "proxy'pw"); err != nil {
		t.Fatalf("proxyro login: %v", err)
	}
	if err := obsim.Login(context.Background(), hostPort(hs[1].Agent.IP, obcluster.DefaultMySQLPort), "root", rootPwd); err != nil {
		t.Fatalf("root login on a follower: %v", err)
	}
	for i := 0; i < 2; i++ {
		if res, err := cluster.ImportScript(ctx, in); err != nil {
			t.Fatalf("import script round %d: %v", i, err)
		} else if !hasLog(res, "load time zone info for tenant sys") {
			t.Fatalf("import script logs %q", res.Logs)
		}
	}
	for i, h := range hs {
		res, err := h.acts.SyncAgent(ctx, SyncAgentInput{Server: p.Servers[i], Master: hs[0].Agent, RootPassword: rootPwd})
		if err != nil {
			t.Fatalf("sync %s: %v", h.Agent, err)
		}
		want := obcluster.IdentityClusterAgent
		if i == 0 {
			want = obcluster.IdentityMaster
		}
		if res.Identity != want {
			t.Fatalf("sync %s: identity %q, want %q", h.Agent, res.Identity, want)
		}
	}
	converted := time.Now().Unix()
	for i := 0; i < 2; i++ {
		if _, err := cluster.ConvertMaster(ctx, in); err != nil {
			t.Fatalf("convert master round %d: %v", i, err)
		}
	}
	// The ocs database is what obshell's init leaves: its schema, and the
	// rows obshell would write for this cluster.
	ocs, _, err := connectRoot(ctx, &logbook{}, hostPort(hs[0].Agent.IP, obcluster.DefaultMySQLPort), "ocs", 10*time.Second, rootPwd)
	if err != nil {
		t.Fatal(err)
	}
	defer ocs.Close()
	checkOCSSchema(t, ocs)
	checkOCSRows(t, ocs, hs, converted, time.Now().Unix())
	res, err := hs[0].acts.SyncAgent(ctx, SyncAgentInput{Server: p.Servers[0], Master: hs[0].Agent, RootPassword: rootPwd})
	if err != nil || res.Identity != obcluster.IdentityClusterAgent {
		t.Fatalf("sync master after convert: %q %v", res.Identity, err)
	}
	// The wrong password is obshell's OB.User.Password.Error, not a retry.
	_, err = hs[1].acts.SyncAgent(ctx, SyncAgentInput{Server: p.Servers[1], Master: hs[0].Agent, RootPassword: "wrong"})
	wantCode(t, err, ErrUserPasswordError)
	if !appErr(t, err).NonRetryable() {
		t.Fatal("access denied is retryable")
	}

	// Rollback of stages 3 and 2: observers gone, work dirs removed; twice.
	for i, h := range hs {
		for round := 0; round < 2; round++ {
			if _, err := h.acts.StopObserver(ctx, StartObserverInput{Server: p.Servers[i]}); err != nil {
				t.Fatalf("stop %s: %v", h.Agent, err)
			}
			if _, err := h.acts.DestroyWorkdir(ctx, WorkdirInput{Agent: h.Agent, Dirs: p.Servers[i].Dirs}); err != nil {
				t.Fatalf("destroy %s: %v", h.Agent, err)
			}
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pids[i])); err == nil {
			if argv, _ := procArgv(pids[i]); argv != nil {
				t.Fatalf("observer %d still runs: %q", pids[i], argv)
			}
		}
		for _, d := range []string{"store", "log", "etc/observer.config.bin"} {
			if _, err := os.Lstat(filepath.Join(h.HomePath, d)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s still there: %v", d, err)
			}
		}
	}
}

func TestHostRefusesOtherHostsWork(t *testing.T) {
	ctx := context.Background()
	h := NewHostActivities(HostIdentity{IP: "127.0.5.9", AgentPort: 2886, HomePath: "/nonexistent/home"}, nil)
	_, err := h.CreateWorkdir(ctx, WorkdirInput{Agent: obcluster.Agent{IP: "127.0.5.8", Port: 2886}, Dirs: obcluster.Dirs{HomePath: "/nonexistent/home"}})
	wantCode(t, err, ErrWrongHost)
	_, err = h.DestroyWorkdir(ctx, WorkdirInput{Dirs: obcluster.Dirs{HomePath: "/other/home"}})
	wantCode(t, err, ErrWrongHost)
	_, err = h.StartObserver(ctx, StartObserverInput{Server: obcluster.ServerPlan{Host: obcluster.Host{Agent: obcluster.Agent{IP: "127.0.5.9", Port: 2887}, HomePath: "/nonexistent/home"}}})
	wantCode(t, err, ErrWrongHost)
	_, err = h.StopObserver(ctx, StartObserverInput{Server: obcluster.ServerPlan{Host: obcluster.Host{Agent: obcluster.Agent{IP: "127.0.5.9", Port: 2886}, HomePath: "/x"}}})
	wantCode(t, err, ErrWrongHost)
	if !appErr(t, err).NonRetryable() {
		t.Fatal("wrong host is retryable")
	}
}

func TestWorkdirNotEmpty(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	h := NewHostActivities(HostIdentity{IP: "127.0.5.9", AgentPort: 2886, HomePath: home}, nil)
	data := filepath.Join(t.TempDir(), "data")
	dirs := fillDir(map[string]string{keyHomePath: home, keyDataDir: data})
	if err := os.MkdirAll(filepath.Join(data, "clog"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "clog", "old"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := h.CreateWorkdir(ctx, WorkdirInput{Dirs: dirs})
	wantCode(t, err, ErrCommonDirNotEmpty)
	if !strings.Contains(err.Error(), "Directory '"+data+"' is not empty") {
		t.Fatalf("message %q", err)
	}
	os.Remove(filepath.Join(data, "clog", "old"))
	res, err := h.CreateWorkdir(ctx, WorkdirInput{Dirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	// A redelivery finds only what the first delivery created.
	if _, err := h.CreateWorkdir(ctx, WorkdirInput{Dirs: dirs}); err != nil {
		t.Fatalf("second create: %v", err)
	}
	// The configured data dir is linked to the standard <home>/store.
	if target, err := os.Readlink(filepath.Join(home, "store")); err != nil || target != data {
		t.Fatalf("store link %q %v (logs %q)", target, err, res.Logs)
	}
	if _, err := h.DestroyWorkdir(ctx, WorkdirInput{Dirs: dirs}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{data, filepath.Join(home, "store")} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s not removed: %v", p, err)
		}
	}
}

func TestStartFailures(t *testing.T) {
	ctx := context.Background()
	hs := newSimHosts(t, "127.0.5.5", "127.0.5.6", "127.0.5.7")
	p := plan(t, hs)
	for i, h := range hs {
		if _, err := h.acts.CreateWorkdir(ctx, WorkdirInput{Agent: h.Agent, Dirs: p.Servers[i].Dirs}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("exit during start", func(t *testing.T) {
		h := hs[0]
		if err := obsim.WriteFaults(h.HomePath, obsim.Faults{ExitDuringStart: 3}); err != nil {
			t.Fatal(err)
		}
		_, err := h.acts.StartObserver(ctx, StartObserverInput{Server: p.Servers[0], HealthCheck: true})
		if err == nil {
			t.Fatal("start succeeded")
		}
		ae := appErr(t, err)
		if !ae.NonRetryable() || (ae.Type() != ErrProcessNotExist && ae.Type() != ErrCommonUnexpected) {
			t.Fatalf("got %s %v", ae.Type(), ae)
		}
	})

	t.Run("health timeout", func(t *testing.T) {
		h := hs[1]
		if err := obsim.WriteFaults(h.HomePath, obsim.Faults{StartDelayMS: 60000}); err != nil {
			t.Fatal(err)
		}
		h.acts.HealthTimeout = 700 * time.Millisecond
		_, err := h.acts.StartObserver(ctx, StartObserverInput{Server: p.Servers[1], HealthCheck: true})
		wantCode(t, err, ErrDagExecuteTimeout)
		if !strings.Contains(err.Error(), "observer health check timeout") {
			t.Fatalf("message %v", err)
		}
		if _, err := h.acts.StopObserver(ctx, StartObserverInput{Server: p.Servers[1]}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cancel during health wait", func(t *testing.T) {
		h := hs[2]
		if err := obsim.WriteFaults(h.HomePath, obsim.Faults{StartDelayMS: 60000}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		_, err := h.acts.StartObserver(cctx, StartObserverInput{Server: p.Servers[2], HealthCheck: true})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v", err)
		}
		if _, err := h.acts.StopObserver(ctx, StartObserverInput{Server: p.Servers[2]}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("observer of a deleted home", func(t *testing.T) {
		// An observer runs; its home is deleted and created again (a dev
		// stack's data dir removed while its observers ran). Start observer
		// must say so at once instead of waiting for a block_file that the
		// old process will never write.
		h, s := hs[0], p.Servers[0]
		os.Remove(filepath.Join(h.HomePath, "etc", "obsim-faults.json"))
		if _, err := h.acts.StartObserver(ctx, StartObserverInput{Server: s, HealthCheck: true}); err != nil {
			t.Fatal(err)
		}
		old, _ := findObserver(h.HomePath)
		if old == nil {
			t.Fatal("no observer after a successful start")
		}
		if err := os.RemoveAll(h.HomePath); err != nil {
			t.Fatal(err)
		}
		if err := obsim.Install(h.HomePath); err != nil {
			t.Fatal(err)
		}
		if _, err := h.acts.CreateWorkdir(ctx, WorkdirInput{Agent: h.Agent, Dirs: s.Dirs}); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, err := h.acts.StartObserver(ctx, StartObserverInput{Server: s, HealthCheck: true})
		wantCode(t, err, ErrCommonUnexpected)
		if want := fmt.Sprintf("observer (pid %d) still runs from an earlier %s that was deleted", old.PID, h.HomePath); !strings.Contains(err.Error(), want) || time.Since(t0) > 5*time.Second {
			t.Fatalf("after %v: %v; want %q at once", time.Since(t0), err, want)
		}
		// Stop observer (the rollback) clears it, and a start works again.
		if _, err := h.acts.StopObserver(ctx, StartObserverInput{Server: s}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.acts.StartObserver(ctx, StartObserverInput{Server: s, HealthCheck: true}); err != nil {
			t.Fatalf("start after stopping the old observer: %v", err)
		}
	})

	t.Run("missing cluster config", func(t *testing.T) {
		s := p.Servers[0]
		s.Config = map[string]string{"zone": "zone1", "mysql_port": "2881", "rpc_port": "2882"}
		os.Remove(filepath.Join(hs[0].HomePath, "etc", "observer.config.bin"))
		_, err := hs[0].acts.StartObserver(ctx, StartObserverInput{Server: s, HealthCheck: true})
		wantCode(t, err, ErrCommonUnexpected)
		if !strings.Contains(err.Error(), "Unexpected error: config cluster is required") {
			t.Fatalf("message %v", err)
		}
	})
}
