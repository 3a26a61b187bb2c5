package obsim_test

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obsim"
)

type serverRow struct {
	IP, Zone, Status, WithRS string
	Port, SQLPort            int
	StartService             sql.NullTime
}

func servers(t *testing.T, db *sql.DB) []serverRow {
	t.Helper()
	rows, err := db.Query("SELECT SVR_IP, SVR_PORT, ZONE, SQL_PORT, STATUS, WITH_ROOTSERVER, START_SERVICE_TIME FROM oceanbase.DBA_OB_SERVERS ORDER BY SVR_IP")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []serverRow
	for rows.Next() {
		var r serverRow
		if err := rows.Scan(&r.IP, &r.Port, &r.Zone, &r.SQLPort, &r.Status, &r.WithRS, &r.StartService); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestThreeServerCluster is the init flow's SQL against three simulators
// started with obshell's command line: bootstrap two zones, add the third
// server, change the root password, create proxyro, and create the ocs
// metadata tables, checking every server gives the same answers.
func TestThreeServerCluster(t *testing.T) {
	t.Parallel()
	h1 := newHost(t, "127.0.1.1", "zone1")
	h2 := newHost(t, "127.0.1.2", "zone2")
	h3 := newHost(t, "127.0.1.3", "zone1")
	startAll(t, h1, h2, h3)
	ctx := context.Background()

	master := open(t, "root", "", h1.ip, "")
	// Before bootstrap the cluster views do not exist yet, as on OceanBase.
	_, err := master.Query("SELECT * FROM oceanbase.DBA_OB_SERVERS")
	expectErr(t, err, 1146, "doesn't exist")

	conn, err := master.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "SET SESSION ob_query_timeout=1000000000"); err != nil {
		t.Fatal(err)
	}
	var timeout int64
	if err := conn.QueryRowContext(ctx, "SELECT @@ob_query_timeout").Scan(&timeout); err != nil || timeout != 1000000000 {
		t.Fatalf("ob_query_timeout = %d, %v", timeout, err)
	}
	if _, err := conn.ExecContext(ctx, "ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.1:2882', ZONE 'zone2' SERVER '127.0.1.2:2882'"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	// A second bootstrap fails, on any server.
	_, err = master.Exec("ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.1:2882'")
	expectErr(t, err, 4015, "")
	_, err = open(t, "root", "", h2.ip, "").Exec("ALTER SYSTEM BOOTSTRAP ZONE 'zone2' SERVER '127.0.1.2:2882'")
	expectErr(t, err, 4015, "")

	// ADD SERVER: unknown zone, then the real one, then again.
	_, err = master.Exec("ALTER SYSTEM ADD SERVER '127.0.1.3:2882' ZONE 'zone9'")
	expectErr(t, err, 4661, "zone9")
	_, err = master.Exec("ALTER SYSTEM ADD SERVER '127.0.1.9:2882' ZONE 'zone1'")
	expectErr(t, err, 4648, "127.0.1.9:2882")
	exec1(t, master, "ALTER SYSTEM ADD SERVER '127.0.1.3:2882' ZONE 'zone1'")
	_, err = master.Exec("ALTER SYSTEM ADD SERVER '127.0.1.3:2882' ZONE 'zone1'")
	expectErr(t, err, 4017, "already")

	want := servers(t, master)
	if len(want) != 3 {
		t.Fatalf("DBA_OB_SERVERS has %d rows: %+v", len(want), want)
	}
	for i, ip := range []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"} {
		r := want[i]
		if r.IP != ip || r.Port != 2882 || r.SQLPort != 2881 || r.Status != "ACTIVE" || !r.StartService.Valid {
			t.Errorf("row %d = %+v", i, r)
		}
	}
	if want[0].WithRS != "YES" || want[1].WithRS != "YES" || want[2].WithRS != "NO" || want[2].Zone != "zone1" {
		t.Errorf("rootservers/zones wrong: %+v", want)
	}
	for _, h := range []*host{h2, h3} {
		if got := servers(t, open(t, "root", "", h.ip, "")); !reflect.DeepEqual(got, want) {
			t.Errorf("DBA_OB_SERVERS on %s = %+v, want %+v", h.ip, got, want)
		}
	}
	var zones int
	if err := open(t, "root@sys", "", h3.ip, "").QueryRow("SELECT COUNT(*) FROM oceanbase.DBA_OB_ZONES WHERE STATUS = 'ACTIVE'").Scan(&zones); err != nil || zones != 2 {
		t.Fatalf("zones = %d, %v", zones, err)
	}

	// Migrate table: the metadata database and tables, through any server.
	exec1(t, master, "CREATE DATABASE IF NOT EXISTS ocs READ WRITE")
	ocs := open(t, "root", "", h1.ip, "ocs")
	exec1(t, ocs, "CREATE TABLE IF NOT EXISTS all_agent (ip varchar(64) NOT NULL, port bigint NOT NULL, identity varchar(32), zone varchar(128), PRIMARY KEY (ip, port))")

	// Modify password, then the old (empty) password is refused everywhere.
	exec1(t, master, `ALTER USER root IDENTIFIED BY "s3cr\"et"`)
	for _, h := range []*host{h1, h2, h3} {
		for _, login := range []string{"root", "root@sys", "root@sys#c1"} {
			if err := open(t, login, `s3cr"et`, h.ip, "").Ping(); err != nil {
				t.Errorf("%s with new password on %s: %v", login, h.ip, err)
			}
		}
		expectErr(t, open(t, "root", "", h.ip, "").Ping(), 1045, "(using password: NO)")
		expectErr(t, open(t, "root", "wrong", h.ip, "").Ping(), 1045, "(using password: YES)")
		expectErr(t, open(t, "root@sys#other", `s3cr"et`, h.ip, "").Ping(), 1045, "Access denied")
	}

	// Create user and grant, from a follower.
	f := open(t, "root", `s3cr"et`, h2.ip, "")
	exec1(t, f, "CREATE USER IF NOT EXISTS `proxyro`@`%` IDENTIFIED BY 'p'")
	exec1(t, f, "CREATE USER IF NOT EXISTS `proxyro`@`%` IDENTIFIED BY 'p'")
	exec1(t, f, "GRANT SELECT ON oceanbase.* TO proxyro")
	if err := open(t, "proxyro@sys", "p", h3.ip, "").Ping(); err != nil {
		t.Errorf("proxyro login: %v", err)
	}

	// Migrate data: a transaction on a follower lands in the leader's tables
	// and is visible from every server.
	f3 := open(t, "root", `s3cr"et`, h3.ip, "ocs")
	tx, err := f3.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("DELETE FROM all_agent"); err != nil {
		t.Fatal(err)
	}
	for i, h := range []*host{h1, h2, h3} {
		identity := "FOLLOWER"
		if i == 0 {
			identity = "MASTER"
		}
		if _, err := tx.Exec("INSERT INTO all_agent (ip, port, identity, zone) VALUES (?, ?, ?, ?)", h.ip, 2886, identity, h.zone); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	exec1(t, f3, "UPDATE all_agent SET identity='CLUSTER AGENT' WHERE identity = 'FOLLOWER'")
	tx, err = f3.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("DELETE FROM all_agent"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*host{h1, h2, h3} {
		var n int
		var identity string
		db := open(t, "root", `s3cr"et`, h.ip, "ocs")
		if err := db.QueryRow("SELECT COUNT(*), MIN(identity) FROM all_agent WHERE port = ?", 2886).Scan(&n, &identity); err != nil {
			t.Fatalf("%s: %v", h.ip, err)
		}
		if n != 3 || identity != "CLUSTER AGENT" {
			t.Errorf("all_agent on %s: %d rows, min identity %q", h.ip, n, identity)
		}
	}

	// Synchronize agent: the parameter view, and the import-script query.
	var params int
	if err := f.QueryRow("SELECT COUNT(*) FROM oceanbase.__all_virtual_sys_parameter_stat WHERE name = 'memory_limit' AND value = '16G'").Scan(&params); err != nil || params != 3 {
		t.Errorf("memory_limit rows = %d, %v", params, err)
	}
	var ip string
	err = f.QueryRow(`SELECT s.SVR_IP FROM oceanbase.DBA_OB_UNITS u JOIN oceanbase.DBA_OB_SERVERS s ON u.SVR_IP = s.SVR_IP AND u.SVR_PORT = s.SVR_PORT
		WHERE u.tenant_id = (select tenant_id from oceanbase.DBA_OB_TENANTS where tenant_name = ?) AND s.status = 'ACTIVE' LIMIT 1`, "sys").Scan(&ip)
	if err != nil || ip == "" {
		t.Errorf("active sys unit server: %q, %v", ip, err)
	}
	exec1(t, f, "SET SESSION ob_query_timeout=1000000000")
	exec1(t, f, "alter system load module data module=timezone tenant=sys")

	var version, obVersion, comment, name string
	if err := f.QueryRow("SELECT VERSION(), ob_version()").Scan(&version, &obVersion); err != nil {
		t.Fatal(err)
	}
	if version != "5.7.25-OceanBase_CE-v"+obsim.DefaultVersion || obVersion != obsim.DefaultVersion {
		t.Errorf("version %q, ob_version %q", version, obVersion)
	}
	if err := f.QueryRow("SHOW VARIABLES LIKE 'version_comment'").Scan(&name, &comment); err != nil || comment == "" {
		t.Errorf("version_comment %q, %v", comment, err)
	}

	c, err := obsim.ReadCounters(h1.home)
	if err != nil {
		t.Fatal(err)
	}
	want1 := obsim.Counters{Bootstrap: 2, BootstrapOK: 1, AddServer: 4, AddServerOK: 1, AlterUser: 1, AlterUserOK: 1}
	if c != want1 {
		t.Errorf("counters on %s = %+v, want %+v", h1.ip, c, want1)
	}
	c2, _ := obsim.ReadCounters(h2.home)
	if c2.CreateUser != 2 || c2.CreateUserOK != 2 || c2.Grant != 1 || c2.Bootstrap != 1 || c2.BootstrapOK != 0 {
		t.Errorf("counters on %s = %+v", h2.ip, c2)
	}

	// A restart of a bootstrapped member keeps the cluster state.
	h3.stop(t)
	h3.start(t)
	time.Sleep(100 * time.Millisecond)
	db3 := open(t, "root", `s3cr"et`, h3.ip, "")
	if got := servers(t, db3); !reflect.DeepEqual(got, want) {
		t.Errorf("after restart DBA_OB_SERVERS on %s = %+v", h3.ip, got)
	}
	_, err = db3.Exec("ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.3:2882'")
	expectErr(t, err, 4015, "")

	// A restart of the leader keeps the cluster and the ocs data, and a
	// follower's pinned connection carries on with a new leader session.
	pinned, err := f3.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	var n int
	if err := pinned.QueryRowContext(ctx, "SELECT COUNT(*) FROM all_agent").Scan(&n); err != nil || n != 3 {
		t.Fatalf("before leader restart: %d, %v", n, err)
	}
	h1.stop(t)
	_, err = pinned.ExecContext(ctx, "SELECT COUNT(*) FROM all_agent")
	expectErr(t, err, 4012, "rootservice")
	h1.start(t)
	if err := pinned.QueryRowContext(ctx, "SELECT COUNT(*) FROM all_agent WHERE identity = 'CLUSTER AGENT'").Scan(&n); err != nil || n != 2 {
		t.Errorf("after leader restart: %d, %v", n, err)
	}
}
