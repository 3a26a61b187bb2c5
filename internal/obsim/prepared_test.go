package obsim_test

import (
	"strings"
	"testing"
)

// TestPreparedStatements runs the OceanBase statements through the binary
// protocol (COM_STMT_PREPARE/EXECUTE), including ALTER SYSTEM, which the
// protocol layer's parser cannot parse.
func TestPreparedStatements(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.30", "zone1")
	h.start(t)
	db := open(t, "root", "", h.ip, "")

	prep := func(q string, args ...any) {
		t.Helper()
		stmt, err := db.Prepare(q)
		if err != nil {
			t.Fatalf("prepare %s: %v", q, err)
		}
		defer stmt.Close()
		if _, err := stmt.Exec(args...); err != nil {
			t.Fatalf("execute %s: %v", q, err)
		}
	}
	stmt, err := db.Prepare("SELECT COUNT(*) FROM oceanbase.DBA_OB_SERVERS WHERE SVR_PORT = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	_, err = stmt.Query(2882)
	expectErr(t, err, 1146, "doesn't exist")

	prep("SET SESSION ob_query_timeout = ?", 1000000000)
	prep("ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.30:2882'")
	var n int
	if err := stmt.QueryRow(2882).Scan(&n); err != nil || n != 1 {
		t.Fatalf("servers = %d, %v", n, err)
	}
	prep("CREATE DATABASE IF NOT EXISTS ocs READ WRITE")
	prep("CREATE TABLE ocs.t (id int primary key, v varchar(10))")
	prep("INSERT INTO ocs.t VALUES (?, ?)", 1, "a")
	// MySQL takes no placeholder for a password, so these carry literals.
	prep("CREATE USER IF NOT EXISTS `proxyro`@`%` IDENTIFIED BY 'pp'")
	prep("GRANT SELECT ON oceanbase.* TO proxyro")
	prep("ALTER USER root IDENTIFIED BY 'newpw'")
	prep("alter system load module data module=timezone tenant=sys")

	if err := open(t, "proxyro", "pp", h.ip, "").Ping(); err != nil {
		t.Errorf("proxyro: %v", err)
	}
	db2 := open(t, "root", "newpw", h.ip, "ocs")
	var v string
	if err := db2.QueryRow("SELECT v FROM t WHERE id = ?", 1).Scan(&v); err != nil || v != "a" {
		t.Errorf("v = %q, %v", v, err)
	}
	_, err = db2.Exec("ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.30:2882'")
	expectErr(t, err, 4015, "")

	// Committed data survives a restart; rolled-back and uncommitted data
	// does not.
	tx, err := db2.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO t VALUES (?, ?)", 2, "b"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx, err = db2.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE t SET v = 'zz'"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	exec1(t, open(t, "root", "newpw", h.ip, "ocs"), "DELETE FROM t WHERE id = 1")
	exec1(t, open(t, "root", "newpw", h.ip, ""), "INSERT INTO ocs.t VALUES (3, 'c')")
	pending, err := db2.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pending.Exec("INSERT INTO t VALUES (4, 'd')"); err != nil {
		t.Fatal(err)
	}
	h.stop(t)
	pending.Rollback()
	h.start(t)
	var got []string
	rows, err := open(t, "root", "newpw", h.ip, "").Query("SELECT CONCAT(id, v) FROM ocs.t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	rows.Close()
	if strings.Join(got, ",") != "2b,3c" {
		t.Errorf("after restart ocs.t = %v, want [2b 3c]", got)
	}
	_, err = db2.Exec("ALTER SYSTEM BOOTSTRAP ZONE 'zone1'")
	expectErr(t, err, 1064, "syntax")
	_, err = db2.Exec("ALTER SYSTEM MAJOR FREEZE")
	expectErr(t, err, 1235, "not supported")
}
