package obsim_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/obflow/obflow/internal/obsim"
)

// Tests in this package bind 127.0.1.x only (see docs/ARCHITECTURE.md) and
// use the real ports 2881/2882, like real hosts. Each test takes its own
// addresses so tests never share a server. The simulator binary is built on
// the first obsim.Install (once per test process), so unit tests and fuzz
// workers do not pay for it.

type host struct {
	home string
	ip   string
	zone string
}

// newHost installs the simulator into a fresh home.
func newHost(t testing.TB, ip, zone string) *host {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := obsim.Install(home); err != nil {
		t.Fatal(err)
	}
	h := &host{home: home, ip: ip, zone: zone}
	t.Cleanup(func() { h.stop(t) })
	return h
}

// command is exactly what obshell runs to start observer.
func (h *host) command(cluster, id string) string {
	return fmt.Sprintf("export LD_LIBRARY_PATH='%s/lib'; %s/bin/observer  -n '%s' -c '%s' -z '%s' -I '%s' -d '%s/store' -p '2881' -P '2882'  -o 'memory_limit=16G,system_memory=8G'",
		h.home, h.home, cluster, id, h.zone, h.ip, h.home)
}

// launch runs the obshell start command and returns its combined output.
func (h *host) launch(t testing.TB, command string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/bash", "-c", command)
	cmd.Dir = h.home
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// start launches the observer of cluster c1 and waits until it is ready the
// way obshell's health check does.
func (h *host) start(t testing.TB) {
	t.Helper()
	if out, err := h.launch(t, h.command("c1", "7")); err != nil {
		t.Fatalf("start observer on %s: %v\n%s", h.ip, err, out)
	}
	h.waitReady(t, 60*time.Second)
}

// startAll starts several observers at once, as obshell's parallel Start
// observer stage does.
func startAll(t testing.TB, hosts ...*host) {
	t.Helper()
	errs := make(chan error, len(hosts))
	for _, h := range hosts {
		go func(h *host) {
			out, err := h.launch(t, h.command("c1", "7"))
			if err != nil {
				err = fmt.Errorf("start observer on %s: %v\n%s", h.ip, err, out)
			}
			errs <- err
		}(h)
	}
	for range hosts {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hosts {
		h.waitReady(t, 60*time.Second)
	}
}

func (h *host) waitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if err := h.ready(); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("observer on %s not ready after %v: %v\n%s", h.ip, timeout, err, h.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready is obshell's health check: process, block_file, root login. A 1045
// counts as up: after the password change the server answers but refuses the
// empty password.
func (h *host) ready() error {
	pid, err := h.pid()
	if err != nil {
		return err
	}
	if !obsim.ProcessAlive(pid) {
		return fmt.Errorf("observer process %d does not exist", pid)
	}
	if _, err := os.Stat(filepath.Join(h.home, "store", "sstable", "block_file")); err != nil {
		return err
	}
	db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s:2881)/?timeout=2s", h.ip))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		if n, _ := mysqlErr(err); n != 1045 {
			return err
		}
	}
	return nil
}

func (h *host) pid() (int, error) {
	b, err := os.ReadFile(obsim.PidPath(h.home))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func (h *host) logTail() string {
	b, _ := os.ReadFile(obsim.LogPath(h.home))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// stop sends SIGTERM and waits for the process to go away.
func (h *host) stop(t testing.TB) {
	pid, err := h.pid()
	if err != nil || !obsim.ProcessAlive(pid) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !waitGone(pid, 10*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
		t.Errorf("observer %d on %s ignored SIGTERM", pid, h.ip)
	}
}

func (h *host) kill(t testing.TB) {
	t.Helper()
	pid, err := h.pid()
	if err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(pid, 5*time.Second) {
		t.Fatalf("observer %d survived SIGKILL", pid)
	}
}

func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !obsim.ProcessAlive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// dsn is obshell's DSN for the cluster-init connections.
func dsn(user, password, ip, db string) string {
	cred := user
	if password != "" {
		cred += ":" + password
	}
	return fmt.Sprintf("%s@tcp(%s:2881)/%s?charset=utf8mb4&loc=Local&parseTime=true&ob_query_timeout=60000000&timeout=5s", cred, ip, db)
}

func open(t testing.TB, user, password, ip, db string) *sql.DB {
	t.Helper()
	d, err := sql.Open("mysql", dsn(user, password, ip, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func exec1(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// mysqlErr returns the MySQL error number of err, or 0.
func mysqlErr(err error) (uint16, string) {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number, me.Message
	}
	return 0, ""
}

func expectErr(t testing.TB, err error, code uint16, contains string) {
	t.Helper()
	n, msg := mysqlErr(err)
	if n != code || !strings.Contains(msg, contains) {
		t.Fatalf("want error %d containing %q, got %v", code, contains, err)
	}
}
