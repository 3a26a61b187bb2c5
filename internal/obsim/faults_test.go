package obsim_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obsim"
)

// TestStatementHold covers statement_delays_ms and statement_errors: the
// prefix match, the release when the entry is removed, a held statement
// dropped when its client goes away, and a crash during a hold, which
// leaves the statement without effect.
func TestStatementHold(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.50", "zone1")
	h.start(t)
	db := open(t, "root", "", h.ip, "")
	exec1(t, db, "ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.50:2882'")
	exec1(t, db, "CREATE DATABASE d")
	exec1(t, db, "CREATE TABLE d.t (id int primary key)")
	rows := func() string {
		t.Helper()
		var s sql.NullString
		if err := open(t, "root", "", h.ip, "").QueryRow("SELECT GROUP_CONCAT(id ORDER BY id) FROM d.t").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s.String
	}

	// The prefix matches after comments and whitespace, in any case; other
	// statements are not held.
	writeFaults(t, h, obsim.Faults{StatementDelaysMS: map[string]int{"insert  into": 700}})
	start := time.Now()
	exec1(t, db, "  -- a comment\n /* another */ insert\tINTO d.t VALUES (1)")
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Errorf("held INSERT took %v, want at least 700ms", d)
	}
	start = time.Now()
	exec1(t, db, "SELECT 1")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("SELECT took %v under an INSERT hold", d)
	}

	// Removing the entry releases a held statement; before that it has no
	// effect.
	writeFaults(t, h, obsim.Faults{StatementDelaysMS: map[string]int{"INSERT INTO": 60000}})
	done := make(chan error, 1)
	go func() { _, err := db.Exec("INSERT INTO d.t VALUES (2)"); done <- err }()
	time.Sleep(400 * time.Millisecond)
	if got := rows(); got != "1" {
		t.Fatalf("rows during the hold: %q", got)
	}
	writeFaults(t, h, obsim.Faults{})
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held INSERT was not released")
	}
	if got := rows(); got != "1,2" {
		t.Fatalf("rows after the release: %q", got)
	}

	// A client that goes away takes its held statement with it.
	writeFaults(t, h, obsim.Faults{StatementDelaysMS: map[string]int{"INSERT INTO": 1500}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := open(t, "root", "", h.ip, "").ExecContext(ctx, "INSERT INTO d.t VALUES (3)")
	cancel()
	if err == nil {
		t.Fatal("INSERT returned before its hold ended")
	}
	waitFor(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(obsim.LogPath(h.home))
		return strings.Contains(string(b), "held statement dropped, its client is gone")
	})
	time.Sleep(1500 * time.Millisecond) // past the hold: the statement must not run late
	writeFaults(t, h, obsim.Faults{})
	if got := rows(); got != "1,2" {
		t.Fatalf("rows after the client left during the hold: %q", got)
	}

	// statement_errors answers before the statement takes effect.
	writeFaults(t, h, obsim.Faults{StatementErrors: map[string]obsim.SQLErrorSpec{
		"alter system load module data": {Code: 1064, SQLState: "42000", Message: "You have an error in your SQL syntax"}}})
	_, err = db.Exec("alter system load module data module=timezone tenant=sys")
	expectErr(t, err, 1064, "SQL syntax")
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM oceanbase.__all_tenant_time_zone_name").Scan(&n); err != nil || n != 0 {
		t.Fatalf("time zone names after a failed LOAD MODULE DATA: %d, %v", n, err)
	}

	// A crash during the hold: ALTER USER never happened.
	writeFaults(t, h, obsim.Faults{StatementDelaysMS: map[string]int{"ALTER USER": 60000}})
	go func() { _, err := db.Exec("ALTER USER root IDENTIFIED BY 'new'"); done <- err }()
	time.Sleep(400 * time.Millisecond)
	h.kill(t)
	if err := <-done; err == nil {
		t.Fatal("ALTER USER succeeded although the observer was killed during its hold")
	}
	writeFaults(t, h, obsim.Faults{})
	h.start(t)
	if err := obsim.Login(context.Background(), h.ip+":2881", "root", ""); err != nil {
		t.Fatalf("root with the old (empty) password after the crash: %v", err)
	}
	if c, err := obsim.ReadCounters(h.home); err != nil || c.AlterUser != 0 {
		t.Fatalf("counters %+v, %v: the held ALTER USER must not have reached the action", c, err)
	}
}

// TestBootstrapIsBusy: a BOOTSTRAP runs on (bootstrap_delay_ms) after its
// client disconnects, a second BOOTSTRAP meanwhile answers 4015 at once,
// and the cluster views do not exist until the first one is done.
func TestBootstrapIsBusy(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.51", "zone1")
	h.start(t)
	writeFaults(t, h, obsim.Faults{BootstrapDelayMS: 2000})
	bootstrap := "ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.51:2882'"
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := open(t, "root", "", h.ip, "").ExecContext(ctx, bootstrap)
	cancel()
	if err == nil {
		t.Fatal("BOOTSTRAP returned within its delay")
	}
	db := open(t, "root", "", h.ip, "")
	start := time.Now()
	_, err = db.Exec(bootstrap)
	expectErr(t, err, 4015, "not empty")
	if d := time.Since(start); d > time.Second {
		t.Errorf("the second BOOTSTRAP took %v; it must fail at once", d)
	}
	_, err = db.Query("SELECT SVR_IP FROM oceanbase.DBA_OB_SERVERS")
	expectErr(t, err, 1146, "oceanbase.DBA_OB_SERVERS")
	waitFor(t, 10*time.Second, func() bool {
		var n int
		return db.QueryRow("SELECT COUNT(*) FROM oceanbase.DBA_OB_SERVERS").Scan(&n) == nil && n == 1
	})
	if c, err := obsim.ReadCounters(h.home); err != nil || c.Bootstrap != 2 || c.BootstrapOK != 1 {
		t.Errorf("counters %+v, %v", c, err)
	}
}
