package activities

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/obflow/obflow/internal/obcluster"
)

// HostIdentity is who a host worker is: its agent address and observer
// home, from the worker's configuration (not from the activity input).
type HostIdentity struct {
	IP        string
	AgentPort int
	HomePath  string
}

// Agent returns the identity's agent address.
func (h HostIdentity) Agent() obcluster.Agent { return obcluster.Agent{IP: h.IP, Port: h.AgentPort} }

// HostActivities are the stages that must run on the observer's machine:
// work directories, starting and stopping the observer, the health wait,
// and the per-host agent sync.
type HostActivities struct {
	Identity HostIdentity
	Logger   *slog.Logger

	// HealthTimeout bounds the health wait (obshell: 300 × 2 s).
	HealthTimeout time.Duration
	// PollInterval is how often the health wait and the kill loop look.
	PollInterval time.Duration
	// HeartbeatInterval is how often long activities heartbeat their logs.
	HeartbeatInterval time.Duration
	// KillTimeout bounds "Stop observer" (obshell: 15 × 5 s).
	KillTimeout time.Duration
}

// NewHostActivities returns host activities with obshell's bounds.
func NewHostActivities(id HostIdentity, logger *slog.Logger) *HostActivities {
	if logger == nil {
		logger = slog.Default()
	}
	return &HostActivities{
		Identity:          id,
		Logger:            logger.With("agent", id.Agent().String()),
		HealthTimeout:     600 * time.Second,
		PollInterval:      50 * time.Millisecond,
		HeartbeatInterval: 2 * time.Second,
		KillTimeout:       75 * time.Second,
	}
}

// Register registers the host-local activities under their obshell names.
func (h *HostActivities) Register(r worker.ActivityRegistry) {
	for name, fn := range map[string]any{
		CreateWorkdirName:  h.CreateWorkdir,
		DestroyWorkdirName: h.DestroyWorkdir,
		StartObserverName:  h.StartObserver,
		StopObserverName:   h.StopObserver,
		SyncAgentName:      h.SyncAgent,
		ImportScriptName:   h.ImportScript,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// ImportScript is "Import script for tenant" run by the master's host
// worker, where obshell runs it: its fallback for an OceanBase without LOAD
// MODULE DATA needs the master's bin/import_time_zone_info.py. (The init
// plan sends the stage to the coordinator, which finds the script only when
// it shares the master's machine.)
func (h *HostActivities) ImportScript(ctx context.Context, in ClusterInput) (Result, error) {
	if in.Master != h.Identity.Agent() {
		log := &logbook{}
		return Result{}, log.fail(ErrWrongHost, nil, "'%s' received work of master '%s', does not support this operation", h.Identity.Agent(), in.Master)
	}
	return NewClusterActivities(h.Logger).ImportScript(ctx, in)
}

// checkHost refuses work meant for another host: Temporal routes by task
// queue, so a mismatch means a misconfigured worker or workflow, and acting
// on it would touch the wrong machine's directories or processes.
func (h *HostActivities) checkHost(log *logbook, agent obcluster.Agent, home string) error {
	if agent != (obcluster.Agent{}) && agent != h.Identity.Agent() {
		return log.fail(ErrWrongHost, nil, "'%s' received work for agent '%s', does not support this operation", h.Identity.Agent(), agent)
	}
	if home == "" {
		return log.fail(ErrCommonIllegalArgument, nil, "The input parameter 'homePath' is illegal: empty")
	}
	if h.Identity.HomePath != "" && filepath.Clean(home) != filepath.Clean(h.Identity.HomePath) {
		return log.fail(ErrWrongHost, nil, "'%s' has home path '%s', received work for home path '%s', does not support this operation", h.Identity.Agent(), h.Identity.HomePath, home)
	}
	return nil
}

// standardDirs are where the observer expects its directories under home
// (obshell's store layout); configured dirs elsewhere are symlinked here.
func standardDirs(home string) obcluster.Dirs {
	store := filepath.Join(home, "store")
	return obcluster.Dirs{HomePath: home, DataDir: store, RedoDir: store, ClogDir: filepath.Join(store, "clog"), SlogDir: filepath.Join(store, "slog")}
}

// CreateWorkdir is "Create observer workdir" (CONTRACT.md §7.5.3).
//
// Idempotency: obshell requires every data directory to be empty, which a
// redelivery after success would fail. Here a directory counts as empty if
// it holds nothing but the (empty) directories and symlinks this stage
// itself creates; anything else (a file, a block_file, foreign dirs) is
// Common.DirNotEmpty as in obshell.
func (h *HostActivities) CreateWorkdir(ctx context.Context, in WorkdirInput) (Result, error) {
	log := &logbook{}
	d := in.Dirs
	if err := h.checkHost(log, in.Agent, d.HomePath); err != nil {
		return Result{}, err
	}
	for k, v := range map[string]string{keyDataDir: d.DataDir, keyRedoDir: d.RedoDir, keyClogDir: d.ClogDir, keySlogDir: d.SlogDir} {
		if v == "" {
			return Result{}, log.fail(ErrCommonIllegalArgument, nil, "Parameter '%s' is not set", k)
		}
	}
	std := standardDirs(d.HomePath)
	ours := map[string]bool{}
	for _, p := range []string{d.DataDir, d.RedoDir, d.ClogDir, d.SlogDir, std.DataDir, std.ClogDir, std.SlogDir,
		filepath.Join(std.DataDir, "sstable"), filepath.Join(d.DataDir, "sstable")} {
		ours[filepath.Clean(p)] = true
	}
	for _, dir := range []string{d.DataDir, d.RedoDir, d.ClogDir, d.SlogDir} {
		log.Logf("mkdir %s", dir)
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return Result{}, log.unexpected(err, "mkdir %s: %v", filepath.Dir(dir), err)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return Result{}, log.unexpected(err, "mkdir %s: %v", dir, err)
		}
		ok, err := onlyOurs(dir, ours)
		if err != nil {
			return Result{}, log.unexpected(err, "check %s: %v", dir, err)
		}
		if !ok {
			return Result{}, log.fail(ErrCommonDirNotEmpty, nil, "Directory '%s' is not empty", dir)
		}
		log.Logf("%s exists and holds nothing but this stage's directories", dir)
	}
	for _, pair := range [][2]string{{d.DataDir, std.DataDir}, {d.RedoDir, std.RedoDir}, {d.ClogDir, std.ClogDir}, {d.SlogDir, std.SlogDir}} {
		if err := linkDir(log, pair[0], pair[1]); err != nil {
			return Result{}, log.unexpected(err, "link %s to %s: %v", pair[0], pair[1], err)
		}
	}
	for _, dir := range []string{filepath.Join(d.HomePath, "etc"), filepath.Join(d.HomePath, "log"), filepath.Join(std.DataDir, "sstable")} {
		log.Logf("mkdir %s", dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Result{}, log.unexpected(err, "mkdir %s: %v", dir, err)
		}
	}
	h.Logger.InfoContext(ctx, "observer workdir created", "home", d.HomePath)
	return log.result(), nil
}

// onlyOurs reports whether dir holds only entries whose paths are in ours
// (directories or symlinks), recursively, and no files.
func onlyOurs(dir string, ours map[string]bool) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !ours[p] {
			return false, nil
		}
		if e.Type()&fs.ModeSymlink != 0 {
			continue
		}
		if !e.IsDir() {
			return false, nil
		}
		ok, err := onlyOurs(p, ours)
		if err != nil || !ok {
			return ok, err
		}
	}
	return true, nil
}

// linkDir symlinks a configured directory to its standard location unless
// they are already the same place.
func linkDir(log *logbook, src, dst string) error {
	if filepath.Clean(src) == filepath.Clean(dst) {
		return nil
	}
	if rs, err := filepath.EvalSymlinks(src); err == nil {
		if rd, err := filepath.EvalSymlinks(dst); err == nil && rs == rd {
			return nil
		}
	}
	log.Logf("link %s to %s", src, dst)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(src, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// DestroyWorkdir is "Destroy observer workdir", the rollback of stage 2:
// remove the store directories (and the targets of their symlinks), the
// observer.config.bin files and the log directory. Removing what is
// already gone is not an error, so it is idempotent. It refuses while an
// observer of this home still runs: rollbacks stop it first.
func (h *HostActivities) DestroyWorkdir(ctx context.Context, in WorkdirInput) (Result, error) {
	log := &logbook{}
	d := in.Dirs
	if err := h.checkHost(log, in.Agent, d.HomePath); err != nil {
		return Result{}, err
	}
	if p, err := findObserver(d.HomePath); err != nil {
		return Result{}, log.unexpected(err, "%v", err)
	} else if p != nil {
		return Result{}, log.unexpected(nil, "observer (pid %d) is still running in %s", p.PID, d.HomePath)
	}
	std := standardDirs(d.HomePath)
	for _, dir := range []string{std.SlogDir, std.ClogDir, std.RedoDir, std.DataDir, d.SlogDir, d.ClogDir, d.RedoDir, d.DataDir} {
		if dir == "" {
			continue
		}
		if target, err := filepath.EvalSymlinks(dir); err == nil && target != dir {
			log.Logf("remove %s", target)
			if err := os.RemoveAll(target); err != nil {
				return Result{}, log.unexpected(err, "remove %s: %v", target, err)
			}
		}
		if _, err := os.Lstat(dir); err == nil {
			log.Logf("remove %s", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return Result{}, log.unexpected(err, "remove %s: %v", dir, err)
		}
	}
	etc := filepath.Join(d.HomePath, "etc")
	matches, _ := filepath.Glob(filepath.Join(etc, "observer.config.bin*"))
	for _, m := range matches {
		log.Logf("remove %s", m)
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Result{}, log.unexpected(err, "remove %s: %v", m, err)
		}
	}
	logDir := filepath.Join(d.HomePath, "log")
	log.Logf("remove %s", logDir)
	if err := os.RemoveAll(logDir); err != nil {
		return Result{}, log.unexpected(err, "remove %s: %v", logDir, err)
	}
	h.Logger.InfoContext(ctx, "observer workdir destroyed", "home", d.HomePath)
	return log.result(), nil
}

// heartbeat records the log lines so far every interval until stopped, so
// a running sub-task shows live logs and a dead worker is noticed within
// the heartbeat timeout. Outside an activity (unit tests) it does nothing.
func heartbeat(ctx context.Context, log *logbook, every time.Duration) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	activity.RecordHeartbeat(ctx, log.Lines())
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, log.Lines())
			}
		}
	}()
	return func() { close(done) }
}

// StartObserver is "Start observer" (CONTRACT.md §7.5.4): the first-start
// checks, obshell's exact command line, and the health wait.
//
// Idempotency: if an observer of this home already runs with exactly the
// arguments this stage would give it (read from /proc/<pid>/cmdline), it
// is not started again; the health wait still runs. One running with other
// arguments is an error rather than something to kill.
func (h *HostActivities) StartObserver(ctx context.Context, in StartObserverInput) (StartObserverResult, error) {
	log := &logbook{}
	s := in.Server
	home := s.Host.HomePath
	if err := h.checkHost(log, s.Host.Agent, home); err != nil {
		return StartObserverResult{}, err
	}
	stopHB := heartbeat(ctx, log, h.HeartbeatInterval)
	defer stopHB()

	log.Logf("start observer")
	running, err := findObserver(home)
	if err != nil {
		return StartObserverResult{}, log.unexpected(err, "%v", err)
	}
	if running != nil && running.homeRemoved() {
		// Without this it would pass for "already running" and the health
		// wait would run into its timeout.
		return StartObserverResult{}, log.stop(ErrCommonUnexpected, nil, "Unexpected error: observer (pid %d) still runs from an earlier %s that was deleted; stop it (kill %d) and retry", running.PID, home, running.PID)
	}

	log.Logf("check if first start")
	cfg := s.Config
	_, statErr := os.Stat(filepath.Join(home, "etc", "observer.config.bin"))
	first := errors.Is(statErr, fs.ErrNotExist)
	firstCfg, firstErr := firstStartConfig(s.Config, h.Identity.IP, home)
	// The observer writes observer.config.bin once it runs, so a redelivery
	// after a successful start no longer looks like a first start; the
	// process we started is recognised by its first-start arguments.
	if first || (running != nil && firstErr == nil && running.sameArgs(startArgs(firstCfg))) {
		if firstErr != nil {
			return StartObserverResult{}, log.unexpected(firstErr, "%v", firstErr)
		}
		cfg = firstCfg
	} else {
		log.Logf("not first start, skip require check")
	}
	args := startArgs(cfg)

	var exited <-chan startExit
	if running != nil {
		if !running.sameArgs(args) {
			return StartObserverResult{}, log.stop(ErrCommonUnexpected, nil, "Unexpected error: observer (pid %d) already runs in %s with other arguments: %q", running.PID, home, running.args())
		}
		log.Logf("observer already running with the same arguments, pid %d", running.PID)
	} else {
		log.Logf("generate start cmd")
		cmd := startCommand(home, cfg)
		log.Logf("start cmd: %s", cmd)
		h.Logger.InfoContext(ctx, "starting observer", "cmd", cmd)
		exited, err = runStart(home, cmd)
		if err != nil {
			return StartObserverResult{}, log.stop(ErrCommonUnexpected, err, "Unexpected error: %v", err)
		}
	}

	res := StartObserverResult{MySQLPort: s.MySQLPort, RPCPort: s.RPCPort}
	if in.HealthCheck {
		pid, err := h.healthWait(ctx, log, home, s.MySQLPort, exited)
		if err != nil {
			return StartObserverResult{}, err
		}
		res.PID = pid
	} else if p, _ := findObserver(home); p != nil {
		res.PID = p.PID
	}
	log.Logf("update self OB port")
	res.Result = log.result()
	h.Logger.InfoContext(ctx, "observer started", "home", home, "pid", res.PID)
	return res, nil
}

// startExit is the outcome of the start command.
type startExit struct {
	err    error
	output []byte
}

// runStart runs the start command with /bin/bash -c in home, as obshell
// does. A real observer daemonizes, so bash returns at once; the
// simulator may stay in the foreground, so the command is not waited for
// here: its exit (with combined output) arrives on the channel. The child
// gets its own session and a file (not a pipe) for output, so neither a
// daemon holding the output nor the death of this worker affects it.
func runStart(home, command string) (<-chan startExit, error) {
	out, err := os.CreateTemp("", "obflow-observer-start-*")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("/bin/bash", "-c", command)
	cmd.Dir = home
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		os.Remove(out.Name())
		return nil, fmt.Errorf("start observer: %w", err)
	}
	ch := make(chan startExit, 1)
	go func() {
		err := cmd.Wait()
		b, _ := os.ReadFile(out.Name())
		out.Close()
		os.Remove(out.Name())
		ch <- startExit{err: err, output: b}
	}()
	return ch, nil
}

// healthWait is obshell's observer health check: the process must exist,
// <home>/store/sstable/block_file must appear, and a MySQL login as root
// must succeed. It polls every PollInterval (obshell: 2 s) up to
// HealthTimeout and returns the observer's pid.
func (h *HostActivities) healthWait(ctx context.Context, log *logbook, home string, mysqlPort int, exited <-chan startExit) (int, error) {
	deadline := time.Now().Add(h.HealthTimeout)
	blockFile := filepath.Join(home, "store", "sstable", "block_file")
	addr := net.JoinHostPort(h.Identity.IP, strconv.Itoa(mysqlPort))
	startRunning := exited != nil
	var startEnded time.Time // when the start command returned
	lastLog := time.Time{}
	for i := 1; ; i++ {
		if time.Since(lastLog) >= h.HeartbeatInterval {
			log.Logf("observer health check, retry [%d]", i)
			lastLog = time.Now()
		}
		if startRunning {
			select {
			case ex := <-exited:
				startRunning, startEnded = false, time.Now()
				if ex.err != nil {
					return 0, log.stop(ErrCommonUnexpected, ex.err, "Unexpected error: %s: %v", bytesTrim(ex.output), ex.err)
				}
			default:
			}
		}
		p, err := findObserver(home)
		if err != nil {
			return 0, log.unexpected(err, "%v", err)
		}
		// A daemonizing observer may write its pid file just after the start
		// command returns; obshell first looks pidFileGrace after it.
		if p == nil && !startRunning && (startEnded.IsZero() || time.Since(startEnded) > pidFileGrace) {
			return 0, log.stop(ErrProcessNotExist, nil, "Observer process does not exist")
		}
		if p != nil {
			if _, err := os.Stat(blockFile); err == nil {
				err := pingObserver(ctx, addr)
				if err == nil || isAccessDenied(err) {
					// Access denied means the observer answers and root's
					// password is already set: a redelivery after init went on.
					log.Logf("observer is healthy, pid %d", p.PID)
					return p.PID, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, log.stop(ErrDagExecuteTimeout, nil, "observer health check timeout")
		}
		select {
		case <-ctx.Done():
			log.Logf("sub task cancelled")
			return 0, ctx.Err()
		case <-time.After(h.PollInterval):
		}
	}
}

// pidFileGrace is how long after the start command returns the health wait
// accepts a missing observer: obshell's first check comes one poll interval
// (2 s) after the start command.
const pidFileGrace = 2 * time.Second

func bytesTrim(b []byte) string {
	const max = 2048
	s := string(b)
	if len(s) > max {
		s = s[len(s)-max:]
	}
	return s
}

// pingObserver opens a test connection as root with an empty password.
func pingObserver(ctx context.Context, addr string) error {
	cfg := observerDSN(addr, "", "")
	cfg.Timeout = 2 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return db.PingContext(pctx)
}

// StopObserver is "Stop observer", the rollback of stage 3: kill -9 the
// observer of this home and wait until it is gone. An observer that is not
// running is already stopped.
func (h *HostActivities) StopObserver(ctx context.Context, in StartObserverInput) (Result, error) {
	log := &logbook{}
	home := in.Server.Host.HomePath
	if err := h.checkHost(log, in.Server.Host.Agent, home); err != nil {
		return Result{}, err
	}
	stopHB := heartbeat(ctx, log, h.HeartbeatInterval)
	defer stopHB()
	deadline := time.Now().Add(h.KillTimeout)
	for {
		p, err := findObserver(home)
		if err != nil {
			return Result{}, log.unexpected(err, "%v", err)
		}
		if p == nil {
			log.Logf("observer is not running")
			h.Logger.InfoContext(ctx, "observer stopped", "home", home)
			return log.result(), nil
		}
		log.Logf("kill -9 %d", p.PID)
		if err := killObserver(p.PID); err != nil {
			return Result{}, log.unexpected(err, "kill observer %d: %v", p.PID, err)
		}
		if time.Now().After(deadline) {
			return Result{}, log.fail(ErrAsyncOperationTimeout, nil, "kill observer process timeout")
		}
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(h.PollInterval):
		}
	}
}
