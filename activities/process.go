package activities

import (
	"bytes"
	"errors"
	"fmt"
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
	Argv []string // argv[0] is the binary path
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

// findObserver returns the observer running from <home>/bin/observer, or
// nil. It trusts run/observer.pid first, then scans /proc, so an observer
// that died before writing its pid file, or whose pid file is stale, is
// still found (or not) correctly.
func findObserver(home string) (*observerProc, error) {
	bin := observerPath(home)
	if b, err := os.ReadFile(pidFile(home)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			if argv, err := procArgv(pid); err == nil && argv[0] == bin {
				return &observerProc{PID: pid, Argv: argv}, nil
			}
		}
	}
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

// homeRemoved reports whether the observer's working directory, the home
// it was started in (observer resolves etc/, log/ and run/ against it), has
// been deleted: an observer left over from a home that was removed and
// created again. Its command line still matches the home, but it will never
// write this home's block_file or pid file.
func (p *observerProc) homeRemoved() bool {
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", p.PID))
	return err == nil && strings.HasSuffix(cwd, " (deleted)")
}

// sameArgs reports whether a running observer was started with args.
func (p *observerProc) sameArgs(args []string) bool { return slices.Equal(p.Argv[1:], args) }

// killObserver sends SIGKILL, like obshell's `kill -9`.
func killObserver(pid int) error {
	err := syscall.Kill(pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
