package activities

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// observerProc is a running observer of one home.
type observerProc struct {
	PID  int
	Argv []string // from /proc/<pid>/cmdline; argv[0] may be anything
}

// pidFile is where the observer writes its pid.
func pidFile(home string) string { return filepath.Join(home, "run", "observer.pid") }

// procArgv reads /proc/<pid>/cmdline. A zombie or vanished process has
// none and reports an error.
func procArgv(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil, fmt.Errorf("process %d has no command line (zombie)", pid)
	}
	return strings.Split(string(b), "\x00"), nil
}

// findObserver returns the observer of home, or nil, by obshell's rule
// (process.CheckObserverProcess): the pid in <home>/run/observer.pid names a
// process (/proc/<pid> exists) whose working directory is not <home>/run.
// The command line does not matter: a real observer may show another argv[0]
// than the path it was started by. Unlike obshell, a zombie (killed, not yet
// reaped) counts as gone rather than as a failed check, and a pid file that
// does not hold a number as no observer.
//
// When that finds none, a process started as <home>/bin/observer still
// counts: an observer whose pid file went with its deleted home (a dev
// stack's data dir removed while its observers ran), which Start observer
// then reports and Stop observer stops, where obshell would run into the
// busy ports.
func findObserver(home string) (*observerProc, error) {
	p, err := observerByPidFile(home)
	if p != nil || err != nil {
		return p, err
	}
	return observerByCmdline(home)
}

// observerByCmdline scans /proc for a process whose argv[0] is
// <home>/bin/observer.
func observerByCmdline(home string) (*observerProc, error) {
	bin := observerPath(home)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		argv, err := procArgv(pid)
		if err != nil || argv[0] != bin {
			continue
		}
		return &observerProc{PID: pid, Argv: argv}, nil
	}
	return nil, nil
}

// observerByPidFile is obshell's rule (see findObserver).
func observerByPidFile(home string) (*observerProc, error) {
	b, err := os.ReadFile(pidFile(home))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", pidFile(home), err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil, nil
	}
	proc := fmt.Sprintf("/proc/%d", pid)
	if _, err := os.Stat(proc); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("check observer process %d: %w", pid, err)
	}
	if zombie(pid) {
		return nil, nil
	}
	cwd, err := os.Readlink(proc + "/cwd")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // gone meanwhile
	} else if err != nil {
		return nil, fmt.Errorf("check observer process %d: %w", pid, err)
	}
	if sameDir(cwd, filepath.Join(home, "run")) {
		return nil, nil
	}
	argv, _ := procArgv(pid) // only for the "same arguments" check
	return &observerProc{PID: pid, Argv: argv}, nil
}

// sameDir compares two directories after resolving symlinks (as obshell
// does), or as written where one cannot be resolved.
func sameDir(a, b string) bool {
	if r, err := filepath.EvalSymlinks(a); err == nil {
		a = r
	}
	if r, err := filepath.EvalSymlinks(b); err == nil {
		b = r
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// zombie reports whether pid is a zombie (state Z in /proc/<pid>/stat).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain ") ".
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// homeRemoved reports whether the observer's working directory, the home
// it was started in (observer resolves etc/, log/ and run/ against it), has
// been deleted: an observer left over from a home that was removed and
// created again. Its command line still matches the home, but it will never
// write this home's block_file or pid file.
func (p *observerProc) homeRemoved() bool {
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", p.PID))
	return err == nil && strings.HasSuffix(cwd, " (deleted)")
}

// args are the observer's arguments after argv[0].
func (p *observerProc) args() []string {
	if len(p.Argv) == 0 {
		return nil
	}
	return p.Argv[1:]
}

// sameArgs reports whether a running observer was started with args.
func (p *observerProc) sameArgs(args []string) bool {
	return len(p.Argv) > 0 && slices.Equal(p.args(), args)
}

// killObserver sends SIGKILL, like obshell's `kill -9`.
func killObserver(pid int) error {
	err := syscall.Kill(pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
