package obsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// launchTimeout bounds how long the start command waits for the daemon to
// bind its ports (replaying a long SQL journal happens before that).
const launchTimeout = 2 * time.Minute

// daemonEnv marks the re-executed child that becomes the daemon.
const daemonEnv = "OBSIM_DAEMON"

// PidPath is where the running observer writes its pid.
func PidPath(home string) string { return filepath.Join(home, "run", "observer.pid") }

// LogPath is the observer's log file.
func LogPath(home string) string { return filepath.Join(home, "log", "observer.log") }

// HomeFromArgv0 derives the observer home from the path the binary was
// started by (<home>/bin/observer), not from the working directory, so it
// works however obshell sets cwd. A bare name falls back to the executable.
func HomeFromArgv0(argv0 string) (string, error) {
	p := argv0
	if !strings.Contains(p, "/") {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("locate executable: %w", err)
		}
		p = exe
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(abs)), nil
}

// Main runs the observer command line and returns the process exit code.
// Without the daemon marker it validates the command line, starts a copy of
// itself as a detached daemon with identical arguments, and returns 0 once
// the daemon has bound its ports (non-zero with the reason otherwise), the
// way observer returns to obshell's start command.
func Main(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "observer: no program name")
		return 2
	}
	if filepath.Base(args[0]) == TimeZoneScript {
		// bin/import_time_zone_info.py executes this binary under its name.
		return ImportTimeZoneInfo(args[1:], os.Stdout, os.Stderr)
	}
	home, err := HomeFromArgv0(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "observer:", err)
		return 1
	}
	if os.Getenv(daemonEnv) == "1" {
		return runDaemon(home, args[1:])
	}
	if len(args) == 2 && (args[1] == "-V" || args[1] == "--version") {
		// obshell and operators read the version this way; the format follows
		// observer's, on stderr like observer's.
		v := DefaultVersion
		if f, err := ReadFaults(home); err == nil && f.Version != "" {
			v = f.Version
		}
		fmt.Fprintf(os.Stderr, "observer (OceanBase_CE %s)\n\nREVISION: 1-obsim\nBUILD_BRANCH: obsim\nBUILD_FLAGS: RelWithDebInfo\nBUILD_INFO: obflow OBServer simulator\n\nCopyright (c) 2011-present OceanBase Inc.\n", v)
		return 0
	}
	if _, _, err := effectiveOptions(home, args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "observer:", err)
		return 1
	}
	if pid, ok := runningPid(home); ok {
		fmt.Fprintf(os.Stderr, "observer: already running with pid %d (%s)\n", pid, PidPath(home))
		return 1
	}
	if err := launch(home, args); err != nil {
		fmt.Fprintln(os.Stderr, "observer:", err)
		return 1
	}
	return 0
}

// effectiveOptions merges the command line over the saved config and checks
// what a first start requires. first is true when there was no saved config.
func effectiveOptions(home string, args []string) (Options, bool, error) {
	cmd, err := ParseArgs(args)
	if err != nil {
		return Options{}, false, err
	}
	saved, ok, err := loadConfig(home)
	if err != nil {
		return Options{}, false, err
	}
	opts := cmd.mergeOver(saved)
	if !ok {
		if err := opts.validateFirstStart(); err != nil {
			return Options{}, false, err
		}
	}
	if opts.LocalIP == "" {
		// observer derives the address from -i; the simulator has no device
		// lookup and listens on loopback instead.
		opts.LocalIP = "127.0.0.1"
		if opts.IPv6 {
			opts.LocalIP = "::1"
		}
	}
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(home, "store")
	}
	return opts, !ok, nil
}

// launch starts the daemon and waits for its report on a pipe.
func launch(home string, args []string) error {
	for _, d := range []string{"log", "run", "etc"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			return err
		}
	}
	logFile, err := os.OpenFile(LogPath(home), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devNull.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locate executable: %w", err)
	}
	cmd := &exec.Cmd{
		Path:        exe,
		Args:        args, // identical argv, so /proc/<pid>/cmdline matches the command obshell ran
		Env:         append(os.Environ(), daemonEnv+"=1"),
		Dir:         home,
		Stdin:       devNull,
		Stdout:      logFile,
		Stderr:      logFile,
		ExtraFiles:  []*os.File{pw},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("start daemon: %w", err)
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(io.LimitReader(pr, 4096)).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(launchTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("observer did not come up within %v (see %s)", launchTimeout, LogPath(home))
	}
	switch {
	case strings.HasPrefix(line, "OK"):
		return nil
	case strings.HasPrefix(line, "ERR "):
		<-exited
		return errors.New(strings.TrimPrefix(line, "ERR "))
	}
	err = <-exited
	return fmt.Errorf("observer exited during start: %v (see %s)", err, LogPath(home))
}

// runDaemon is the daemon's life. Its report goes to fd 3 (the pipe).
func runDaemon(home string, args []string) int {
	report := os.NewFile(3, "report")
	say := func(msg string) {
		if report != nil {
			fmt.Fprintln(report, msg)
			report.Close()
			report = nil
		}
	}
	defer say("ERR daemon ended before it was up")

	logFile, err := os.OpenFile(LogPath(home), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		say("ERR open log: " + err.Error())
		return 1
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logrus.SetOutput(logFile)
	logrus.SetLevel(logrus.WarnLevel)

	opts, first, err := effectiveOptions(home, args)
	if err != nil {
		say("ERR " + err.Error())
		return 1
	}
	srv, err := NewServer(home, opts, log)
	if err != nil {
		say("ERR " + err.Error())
		return 1
	}
	if err := srv.Listen(); err != nil {
		log.Error("cannot bind", "err", err)
		say("ERR " + err.Error())
		return 1
	}
	if first {
		if err := saveConfig(home, opts); err != nil {
			say("ERR " + err.Error())
			return 1
		}
	}
	if err := os.WriteFile(PidPath(home), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		say("ERR write pid file: " + err.Error())
		return 1
	}
	if err := srv.Serve(); err != nil {
		say("ERR " + err.Error())
		return 1
	}
	log.Info("observer started", "pid", os.Getpid(), "args", strings.Join(args, " "), "first_start", first)
	say("OK " + strconv.Itoa(os.Getpid()))

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	stop := func(sig os.Signal) int {
		log.Info("observer stopping", "signal", sig.String())
		srv.Close()
		os.Remove(PidPath(home))
		return 0
	}

	f := srv.faults.get()
	if f.StartDelayMS > 0 {
		log.Info("fault: delaying start", "ms", f.StartDelayMS)
		select {
		case <-time.After(time.Duration(f.StartDelayMS) * time.Millisecond):
		case sig := <-sigs:
			return stop(sig)
		}
	}
	if f = srv.faults.get(); f.ExitDuringStart != 0 {
		log.Error("fault: exiting during start", "code", f.ExitDuringStart)
		srv.Close()
		os.Remove(PidPath(home))
		return f.ExitDuringStart
	}
	srv.CatchUp(context.Background())
	if err := srv.MarkReady(); err != nil {
		log.Error("cannot become ready", "err", err)
		srv.Close()
		os.Remove(PidPath(home))
		return 1
	}
	var crash <-chan time.Time
	if f = srv.faults.get(); f.CrashAfterMS > 0 {
		log.Info("fault: will crash", "after_ms", f.CrashAfterMS)
		crash = time.After(time.Duration(f.CrashAfterMS) * time.Millisecond)
	}
	select {
	case sig := <-sigs:
		return stop(sig)
	case <-crash:
		log.Error("fault: crashing now")
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}

// runningPid reports a live process recorded in the pid file that runs the
// same program (so a stale pid reused by another process does not count).
func runningPid(home string) (int, bool) {
	b, err := os.ReadFile(PidPath(home))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if !ProcessAlive(pid) {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, false
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	h, err := HomeFromArgv0(argv0)
	if err != nil || h != home {
		return 0, false
	}
	return pid, true
}

// ProcessAlive reports whether pid is a live process. A zombie (killed but
// not yet reaped, which happens to daemons whose parent is gone) is dead.
func ProcessAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X'
}
