package activities

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/obflow/obflow/internal/obcluster"
)

// ocsGolden is the description of obshell's ocs tables (see its header).
const ocsGolden = "testdata/ocs-schema.golden"

// readGolden returns the golden description without its comment lines.
func readGolden(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(ocsGolden)
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "#") {
			keep = append(keep, l)
		}
	}
	return strings.TrimSpace(strings.Join(keep, "\n")) + "\n"
}

// describeTables renders CREATE TABLE statements in the golden's
// normalized form: per table its columns in order (type, NULL or NOT NULL,
// default, ON UPDATE, AUTO_INCREMENT), then its primary key and its other
// indexes by name. Spellings that mean the same column are made equal:
//
//   - integer display widths are dropped (bigint(20) is bigint; OceanBase
//     prints the width, go-mysql-server does not), except tinyint(1), which
//     is what boolean/bool stand for;
//   - primary-key columns are NOT NULL, as MySQL makes them;
//   - literal defaults are quoted strings (DEFAULT 1, '1' and true on a
//     tinyint(1) are the same value), functions upper case, and
//     CURRENT_TIMESTAMP has no "(0)";
//   - character sets, collations and table options are not described:
//     obshell's models leave them to the server.
func describeTables(stmts []string) (string, error) {
	var b strings.Builder
	for _, q := range stmts {
		s, err := describeTable(q)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func describeTable(q string) (string, error) {
	st, err := sqlparser.Parse(q)
	if err != nil {
		return "", fmt.Errorf("parse %.60q: %w", q, err)
	}
	ddl, ok := st.(*sqlparser.DDL)
	if !ok || ddl.TableSpec == nil {
		return "", fmt.Errorf("not a CREATE TABLE: %.60q", q)
	}
	spec := ddl.TableSpec
	pk := map[string]bool{}
	var primary string
	type key struct{ name, line string }
	var keys []key
	for _, ix := range spec.Indexes {
		var cols []string
		for _, c := range ix.Columns {
			if c.Length != nil || (c.Order != "" && !strings.EqualFold(c.Order, "asc")) {
				return "", fmt.Errorf("%s: index %s: prefix or descending column %s not described", ddl.Table.Name, ix.Info.Name, c.Column)
			}
			cols = append(cols, c.Column.Lowered())
		}
		list := "(" + strings.Join(cols, ", ") + ")"
		name := ix.Info.Name.Lowered()
		switch {
		case ix.Info.Primary:
			for _, c := range cols {
				pk[c] = true
			}
			primary = "PRIMARY KEY " + list
		case ix.Info.Unique:
			keys = append(keys, key{name, "UNIQUE KEY " + name + " " + list})
		case ix.Info.Spatial || ix.Info.Fulltext || ix.Info.Vector:
			return "", fmt.Errorf("%s: index %s of a kind not described", ddl.Table.Name, ix.Info.Name)
		default:
			keys = append(keys, key{name, "KEY " + name + " " + list})
		}
	}
	if len(spec.Constraints) > 0 {
		return "", fmt.Errorf("%s: constraints not described", ddl.Table.Name)
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.name, b.name) })

	var b strings.Builder
	fmt.Fprintf(&b, "table %s\n", ddl.Table.Name.String())
	for _, c := range spec.Columns {
		ct := c.Type
		if ct.KeyOpt != 0 || ct.ForeignKeyDef != nil || ct.Constraint != nil || ct.GeneratedExpr != nil {
			return "", fmt.Errorf("%s.%s: column key, constraint or generated column not described", ddl.Table.Name, c.Name)
		}
		name := c.Name.Lowered()
		line := []string{name, columnType(ct)}
		if bool(ct.NotNull) || pk[name] {
			line = append(line, "NOT NULL")
		} else {
			line = append(line, "NULL")
		}
		if ct.Default != nil {
			line = append(line, "DEFAULT", defaultValue(ct.Default))
		}
		if ct.OnUpdate != nil {
			line = append(line, "ON UPDATE", defaultValue(ct.OnUpdate))
		}
		if bool(ct.Autoincrement) {
			line = append(line, "AUTO_INCREMENT")
		}
		fmt.Fprintf(&b, "  %s\n", strings.Join(line, " "))
	}
	if primary != "" {
		fmt.Fprintf(&b, "  %s\n", primary)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s\n", k.line)
	}
	return b.String(), nil
}

func columnType(ct sqlparser.ColumnType) string {
	t := strings.ToLower(ct.Type)
	switch t {
	case "bool", "boolean":
		return "tinyint(1)"
	case "integer":
		t = "int"
	}
	var size string
	if ct.Length != nil {
		size = string(ct.Length.Val)
		if ct.Scale != nil {
			size += "," + string(ct.Scale.Val)
		}
	}
	switch t {
	case "tinyint", "smallint", "mediumint", "int", "bigint":
		if t != "tinyint" || size != "1" {
			size = "" // a display width, not a size
		}
	}
	if size != "" {
		t += "(" + size + ")"
	}
	if bool(ct.Unsigned) {
		t += " unsigned"
	}
	return t
}

func defaultValue(e sqlparser.Expr) string {
	for {
		p, ok := e.(*sqlparser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	switch v := e.(type) {
	case *sqlparser.SQLVal:
		return "'" + strings.ReplaceAll(string(v.Val), "'", "''") + "'"
	case sqlparser.BoolVal:
		if v {
			return "'1'"
		}
		return "'0'"
	case *sqlparser.NullVal:
		return "NULL"
	}
	f := strings.ToUpper(sqlparser.String(e))
	// CURRENT_TIMESTAMP, CURRENT_TIMESTAMP() and CURRENT_TIMESTAMP(0) are one value.
	for _, zero := range []string{"()", "(0)"} {
		if g, ok := strings.CutSuffix(f, zero); ok {
			f = g
		}
	}
	return f
}

// TestOCSSchemaFile: the statements MigrateTable runs create exactly the
// tables the golden describes, no more, in the same order.
func TestOCSSchemaFile(t *testing.T) {
	var stmts, names []string
	for _, tb := range ocsTables {
		stmts = append(stmts, tb.ddl)
		names = append(names, tb.name)
	}
	got, err := describeTables(stmts)
	if err != nil {
		t.Fatal(err)
	}
	if want := readGolden(t); got != want {
		t.Fatalf("ocs_schema.sql describes as\n%s\nwant (%s)\n%s", got, ocsGolden, want)
	}
	want := []string{"all_agent", "task_maintainer", "dag_instance", "node_instance", "subtask_instance", "sub_task_log",
		"upgrade_pkg_info", "upgrade_pkg_chunk", "cluster_status", "partial_maintenance", "agent_binary_info",
		"agent_binary_chunk", "ocs_config", "inspection_report", "profile_credential"}
	if !slices.Equal(names, want) {
		t.Fatalf("tables %q, want obshell's migration order %q", names, want)
	}
}

// TestDescribeTableNormalizes pins the normalization rules the golden
// comparison relies on, and that a real difference still shows.
func TestDescribeTableNormalizes(t *testing.T) {
	a, err := describeTable("CREATE TABLE `x` (`id` bigint(20) AUTO_INCREMENT,`f` boolean DEFAULT false,`n` bigint NOT NULL DEFAULT 1,`k` varchar(8) DEFAULT '',PRIMARY KEY (`id`),INDEX `b` (`n`),UNIQUE INDEX `a` (`k`,`n`))")
	if err != nil {
		t.Fatal(err)
	}
	b, err := describeTable("CREATE TABLE `x` (\n  `id` bigint NOT NULL AUTO_INCREMENT,\n  `f` tinyint(1) DEFAULT '0',\n  `n` bigint NOT NULL DEFAULT '1',\n  `k` varchar(8) DEFAULT '',\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `a` (`k`,`n`),\n  KEY `b` (`n`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin")
	if err != nil {
		t.Fatal(err)
	}
	want := "table x\n  id bigint NOT NULL AUTO_INCREMENT\n  f tinyint(1) NULL DEFAULT '0'\n  n bigint NOT NULL DEFAULT '1'\n  k varchar(8) NULL DEFAULT ''\n  PRIMARY KEY (id)\n  UNIQUE KEY a (k, n)\n  KEY b (n)\n"
	if a != want || b != want {
		t.Fatalf("GORM's spelling:\n%s\nthe server's:\n%s\nwant:\n%s", a, b, want)
	}
	for _, q := range []string{
		"CREATE TABLE `x` (`id` bigint AUTO_INCREMENT,`f` boolean DEFAULT true,`n` bigint NOT NULL DEFAULT 1,`k` varchar(8) DEFAULT '',PRIMARY KEY (`id`),INDEX `b` (`n`),UNIQUE INDEX `a` (`k`,`n`))",
		"CREATE TABLE `x` (`id` bigint AUTO_INCREMENT,`f` boolean DEFAULT false,`n` int NOT NULL DEFAULT 1,`k` varchar(8) DEFAULT '',PRIMARY KEY (`id`),INDEX `b` (`n`),UNIQUE INDEX `a` (`k`,`n`))",
		"CREATE TABLE `x` (`id` bigint AUTO_INCREMENT,`f` boolean DEFAULT false,`n` bigint NOT NULL DEFAULT 1,`k` varchar(8),PRIMARY KEY (`id`),INDEX `b` (`n`),UNIQUE INDEX `a` (`k`,`n`))",
		"CREATE TABLE `x` (`id` bigint AUTO_INCREMENT,`f` boolean DEFAULT false,`n` bigint NOT NULL DEFAULT 1,`k` varchar(8) DEFAULT '',PRIMARY KEY (`id`),INDEX `b` (`n`),INDEX `a` (`k`,`n`))",
		"CREATE TABLE `x` (`id` bigint AUTO_INCREMENT,`f` boolean DEFAULT false,`n` bigint NOT NULL DEFAULT 1,`k` varchar(8) DEFAULT '',PRIMARY KEY (`id`),INDEX `b` (`n`),UNIQUE INDEX `a` (`n`,`k`))",
	} {
		if d, err := describeTable(q); err != nil || d == want {
			t.Errorf("%q describes as the original (%v)", q, err)
		}
	}
}

// simulatorTypes are the columns go-mysql-server cannot hold as obshell
// declares them, and what the simulator stores instead (internal/obsim
// README, SQL): OceanBase takes a varchar of up to 262144 characters, the
// engine only up to 16383.
var simulatorTypes = map[string][2]string{
	"profile_credential.secret": {"secret varchar(65536) NOT NULL", "secret mediumtext NOT NULL"},
}

// checkOCSSchema compares the ocs tables an observer holds with the golden
// description, allowing only simulatorTypes.
func checkOCSSchema(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	want := readGolden(t)
	for col, sub := range simulatorTypes {
		table := "table " + strings.Split(col, ".")[0] + "\n"
		i := strings.Index(want, table)
		line := "\n  " + sub[0] + "\n"
		if i < 0 || !strings.Contains(want[i:], line) {
			t.Fatalf("golden has no column %q: drop it from simulatorTypes", sub[0])
		}
		want = want[:i] + strings.Replace(want[i:], line, "\n  "+sub[1]+"\n", 1)
	}
	// Tables in golden order; the server lists them by name.
	var order []string
	for _, l := range strings.Split(want, "\n") {
		if name, ok := strings.CutPrefix(l, "table "); ok {
			order = append(order, name)
		}
	}
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ocs'")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	slices.Sort(names)
	sorted := slices.Sorted(slices.Values(order))
	if !slices.Equal(names, sorted) {
		t.Fatalf("ocs holds tables %q, want %q", names, sorted)
	}
	var stmts []string
	for _, n := range order {
		var name, create string
		if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE ocs."+n).Scan(&name, &create); err != nil {
			t.Fatalf("show create table %s: %v", n, err)
		}
		stmts = append(stmts, create)
	}
	got, err := describeTables(stmts)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("the observer's ocs tables describe as\n%s\nwant (golden with the simulator's types)\n%s", got, want)
	}
}

// checkOCSRows compares the rows of the ocs tables after an init of hs
// (master hs[0]) with what obshell writes for that cluster: one all_agent
// row per agent with the agent's own version, OS, architecture and public
// key, the master as task maintainer since a time in [from, to] (seconds),
// cluster status 1, and nothing else. obshell's master also uploads its
// own binary to agent_binary_info/agent_binary_chunk, which obflow does
// not (CONTRACT.md §9.6).
func checkOCSRows(t *testing.T, db *sql.DB, hs []simHost, from, to int64) {
	t.Helper()
	ctx := context.Background()
	var want []string
	for _, h := range hs {
		if h.Version == "" || h.OS == "" || h.Architecture == "" || h.PublicKey == "" {
			t.Fatalf("host %s reported no version, OS, architecture or public key", h.Agent)
		}
		want = append(want, fmt.Sprintf("%s|%d|CLUSTER AGENT|%s|%s|%s|%s|%d|%d|%s|%s", h.Agent.IP, h.Agent.Port,
			h.Version, h.OS, h.Architecture, h.Zone, obcluster.DefaultMySQLPort, obcluster.DefaultRPCPort, h.HomePath, h.PublicKey))
	}
	slices.Sort(want)
	got := queryRows(t, db, "SELECT ip, port, identity, version, os, architecture, zone, mysql_port, rpc_port, home_path, public_key FROM ocs.all_agent ORDER BY ip, port")
	if !slices.Equal(got, want) {
		t.Fatalf("all_agent rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var (
		id, port, counter, agentTime int64
		ip                           string
		active                       sql.NullString
	)
	err := db.QueryRowContext(ctx, "SELECT id, agent_ip, agent_port, counter, agent_time, active_time FROM ocs.task_maintainer").
		Scan(&id, &ip, &port, &counter, &agentTime, &active)
	if err != nil {
		t.Fatalf("task_maintainer: %v", err)
	}
	if id != 1 || ip != hs[0].Agent.IP || port != int64(hs[0].Agent.Port) || counter != 0 || !active.Valid {
		t.Fatalf("task_maintainer row (%d, %s, %d, %d, %d, %v), want (1, %s, %d, 0, <now>, <now>)", id, ip, port, counter, agentTime, active, hs[0].Agent.IP, hs[0].Agent.Port)
	}
	if agentTime < from || agentTime > to {
		t.Fatalf("task_maintainer.agent_time %d, want Unix seconds in [%d, %d]", agentTime, from, to)
	}
	if got := queryRows(t, db, "SELECT id, status FROM ocs.cluster_status"); !slices.Equal(got, []string{"1|1"}) {
		t.Fatalf("cluster_status rows %q, want one (1, 1)", got)
	}
	for _, table := range []string{"dag_instance", "node_instance", "subtask_instance", "sub_task_log", "upgrade_pkg_info",
		"upgrade_pkg_chunk", "partial_maintenance", "agent_binary_info", "agent_binary_chunk", "ocs_config",
		"inspection_report", "profile_credential"} {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM ocs."+table).Scan(&n); err != nil || n != 0 {
			t.Fatalf("ocs.%s holds %d rows (%v), want none", table, n, err)
		}
	}
}

// queryRows returns each row of q as its columns joined by "|".
func queryRows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(cols))
		for i, v := range vals {
			parts[i] = v.String
			if !v.Valid {
				parts[i] = "NULL"
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
