// Package pgtest starts a throwaway PostgreSQL server for a test or
// benchmark:
//
//	url := pgtest.Start(t) // postgres://obflow:<password>@127.0.0.1:<port>/obflow?sslmode=disable
//
// The server runs from the PostgreSQL binaries found on PATH or under
// /usr/lib/postgresql/*/bin (the Debian package's place), with its data
// directory and unix socket in a fresh temporary directory, listening on a
// free port of 127.0.0.1 with password authentication. It is stopped and its
// directory removed when the test ends, and it dies with the test process
// if that is killed, so no postgres process outlives the test. When no
// binaries are found the test is skipped with a message saying so.
//
// The URL's user is the server's superuser; its database ("obflow") does
// not exist yet, so whoever uses the URL may create it (or pick another
// name in the path). Run as root, the server runs as the unprivileged
// "postgres" or "nobody" user, because PostgreSQL refuses to run as root.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// User is the superuser of the throwaway server.
	User = "obflow"
	// Database is the database the URL names; it does not exist yet.
	Database = "obflow"
)

// Start starts a server for tb and returns its URL. It skips tb when no
// PostgreSQL binaries are found and fails it when the server does not start.
func Start(tb testing.TB) string {
	tb.Helper()
	bin, err := BinDir()
	if err != nil {
		tb.Skipf("pgtest: %v (install the Debian package postgresql)", err)
	}
	s, err := start(tb, bin)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return s
}

// BinDir is the directory holding initdb and postgres: the one initdb on
// PATH points to, else the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { return pgVersion(versioned[i]) > pgVersion(versioned[j]) })
	dirs = append(dirs, versioned...)
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL binaries (initdb and postgres) on PATH or in /usr/lib/postgresql/*/bin")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func start(tb testing.TB, bin string) (string, error) {
	cred, err := serverCredential()
	if err != nil {
		return "", err
	}
	// Not tb.TempDir: its parent is private to root, and the server may run
	// as another user. The socket path must also stay under 108 bytes.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return "", err
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	dataDir := filepath.Join(dir, "data")
	sockDir := filepath.Join(dir, "sock")
	pwFile := filepath.Join(dir, "password")
	logFile := filepath.Join(dir, "postgres.log")
	password := randomPassword()
	if err := os.Mkdir(sockDir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return "", err
	}
	if cred != nil {
		for _, p := range []string{dir, sockDir, pwFile} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return "", err
			}
		}
	}

	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"-D", dataDir, "-U", User, "--pwfile", pwFile,
		"--auth-local", "trust", "--auth-host", "scram-sha-256",
		"-E", "UTF8", "--locale", "C",
		// The data is thrown away: do not wait for the disk.
		"--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v\n%s", err, out)
	}

	// The free port may be taken by someone else before the server binds
	// it; then the server exits at once and we try another.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		u := (&url.URL{
			Scheme:   "postgres",
			User:     url.UserPassword(User, password),
			Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Path:     "/" + Database,
			RawQuery: "sslmode=disable",
		}).String()
		err = runServer(tb, bin, dataDir, sockDir, logFile, port, password, cred)
		if err == nil {
			return u, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return "", lastErr
}

// serverCredential is nil unless we run as root; then it is the "postgres"
// user (the Debian package's) or "nobody".
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither user postgres nor nobody exists to run PostgreSQL as")
}

// errExited is a server that exited during start-up, e.g. because another
// process took its port.
var errExited = errors.New("postgres exited")

// runServer starts postgres in the foreground (no pg_ctl daemon), waits
// until it accepts connections, and stops it when tb ends.
func runServer(tb testing.TB, bin, dataDir, sockDir, logFile string, port int, password string, cred *syscall.Credential) error {
	logF, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", dataDir,
		"-p", strconv.Itoa(port),
		"-k", sockDir,
		"-c", "listen_addresses=127.0.0.1",
	)
	cmd.Stdout = logF
	cmd.Stderr = logF
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Killed with the test process, whatever kills it. The signal is
		// tied to the thread that started the child, hence the locked
		// thread below that lives as long as the server.
		Pdeathsig: syscall.SIGKILL,
		// Not in the test's process group: a Ctrl-C of `go test` goes to the
		// test, whose cleanup stops the server.
		Setpgid: true,
	}
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	err = <-started
	_ = logF.Close()
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	stop := func() {
		// Immediate shutdown: the data is thrown away, so skip the
		// checkpoint.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/postgres?sslmode=disable", User, url.QueryEscape(password), port)
	for {
		conn, err := pgx.Connect(ctx, u)
		if err == nil {
			_ = conn.Close(ctx)
			break
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("%w before accepting connections (%v): %s", errExited, werr, tail(logFile))
		case <-ctx.Done():
			stop()
			return fmt.Errorf("postgres did not accept connections within a minute: %v: %s", err, tail(logFile))
		case <-time.After(50 * time.Millisecond):
		}
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("pgtest: postgres log:\n%s", tail(logFile))
		}
		stop()
	})
	return nil
}

// tail is the end of the server log, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	// A character URLs must escape, so users of the URL are tested on it.
	return "pg/" + hex.EncodeToString(b)
}
