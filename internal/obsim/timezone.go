package obsim

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	gsql "github.com/dolthub/go-mysql-server/sql"
	"github.com/go-sql-driver/mysql"
)

// OceanBase keeps a tenant's time zone data in four system tables of the
// oceanbase database. Two things fill them: `ALTER SYSTEM LOAD MODULE DATA
// module=timezone` (OceanBase 4.2.2 and later) and, before that,
// bin/import_time_zone_info.py, which turns etc/timezone_V1.log (MySQL's
// mysql_tzinfo_to_sql output with a tenant-id placeholder) into INSERTs
// through the MySQL port. The simulator keeps the tables, ships a small
// timezone_V1.log of its own and a stand-in for the script, and both ways
// load the same rows.

// TimeZoneScript and TimeZoneFile are the script (in <home>/bin) and its
// input (in <home>/etc), under OceanBase's names.
const (
	TimeZoneScript = "import_time_zone_info.py"
	TimeZoneFile   = "timezone_V1.log"
)

//go:embed timezone/timezone_V1.log
var timeZoneLog []byte

//go:embed timezone/import_time_zone_info.py
var timeZoneScript []byte

// TimeZoneTables are the four tables, in the order of the script's counts.
var TimeZoneTables = []string{
	"__all_tenant_time_zone",
	"__all_tenant_time_zone_name",
	"__all_tenant_time_zone_transition",
	"__all_tenant_time_zone_transition_type",
}

func isTimeZoneTable(name string) bool {
	for _, t := range TimeZoneTables {
		if strings.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// timeZoneTables builds the (empty) tables with OceanBase's columns.
func timeZoneTables() []*sysTable {
	t := func(name string, defs ...any) *sysTable { return &sysTable{name: name, schema: cols(name, defs...)} }
	return []*sysTable{
		t(TimeZoneTables[0], "tenant_id", tInt, "time_zone_id", tInt, "use_leap_seconds", tVarchar, "version", tInt),
		t(TimeZoneTables[1], "tenant_id", tInt, "name", tVarchar, "time_zone_id", tInt, "version", tInt),
		t(TimeZoneTables[2], "tenant_id", tInt, "time_zone_id", tInt, "transition_time", tInt, "transition_type_id", tInt, "version", tInt),
		t(TimeZoneTables[3], "tenant_id", tInt, "time_zone_id", tInt, "transition_type_id", tInt, "offset", tInt, "is_dst", tInt,
			"abbreviation", tVarchar, "version", tInt),
	}
}

// installTimeZoneFiles puts the stand-in script into <home>/bin and the time
// zone file into <home>/etc, where an observer installation has them.
func installTimeZoneFiles(home string) error {
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{filepath.Join(home, "bin", TimeZoneScript), timeZoneScript, 0o755},
		{filepath.Join(home, "etc", TimeZoneFile), timeZoneLog, 0o644},
	} {
		if cur, err := os.ReadFile(f.path); err == nil && bytes.Equal(cur, f.data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := writeFileAtomic(f.path, f.data); err != nil {
			return err
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// timeZoneSQL is the time zone file turned into statements, the way
// import_time_zone_info.py does it: TRUNCATE TABLE time_zone* becomes DELETE
// FROM oceanbase.__all_tenant_time_zone*, INTO time_zone* names the
// oceanbase tables, ALTER TABLE ... ORDER BY lines are dropped, the tenant
// placeholder "tid" becomes 0 (the tenant the session is in), and the
// "<table> count: N" lines give the row counts to expect.
type timeZoneSQL struct {
	stmts   []string
	version []string // lines about __all_sys_stat, run after the counts match
	want    [4]int
}

var (
	reTruncate = regexp.MustCompile(`(?i)TRUNCATE TABLE time_zone`)
	reInto     = regexp.MustCompile(`(?i)INTO time_zone`)
	reAlter    = regexp.MustCompile(`(?i)ALTER TABLE time_zone_transition`)
	reSysStat  = regexp.MustCompile(`(?i)__all_sys_stat`)
	reCount    = regexp.MustCompile(`(?i)count:`)
)

func parseTimeZoneFile(r io.Reader) (timeZoneSQL, error) {
	var out timeZoneSQL
	countPrefix := []string{"time_zone count:", "time_zone_name count:", "time_zone_transition count:", "time_zone_transition_type count:"}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var stmt strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case reSysStat.MatchString(line):
			out.version = append(out.version, line)
			continue
		case reCount.MatchString(line):
			// The most specific table name first, as the script checks.
			for i := 3; i >= 0; i-- {
				if strings.Contains(strings.ToLower(line), countPrefix[i]) {
					n, err := strconv.Atoi(strings.TrimSpace(line[strings.Index(strings.ToLower(line), countPrefix[i])+len(countPrefix[i]):]))
					if err != nil {
						return out, fmt.Errorf("bad count line %q: %w", line, err)
					}
					out.want[i] = n
					break
				}
			}
			continue
		}
		switch {
		case reTruncate.MatchString(line):
			line = strings.ReplaceAll(line, "TRUNCATE TABLE time_zone", "DELETE FROM oceanbase.__all_tenant_time_zone")
		case reInto.MatchString(line):
			line = strings.ReplaceAll(line, "INTO time_zone", "INTO oceanbase.__all_tenant_time_zone")
		case reAlter.MatchString(line):
			line = ""
		}
		line = strings.ReplaceAll(line, "tid", "0")
		stmt.WriteString(line)
		stmt.WriteByte('\n')
		if strings.Contains(line, ";") {
			if s := strings.TrimSpace(stmt.String()); s != "" && s != ";" {
				out.stmts = append(out.stmts, s)
			}
			stmt.Reset()
		}
	}
	return out, sc.Err()
}

// sysTable is a writable system table of the oceanbase database (the time
// zone tables). Its rows live in this server's engine like ordinary data:
// statements reach it on the leader, and the SQL journal replays them.
type sysTable struct {
	name   string
	schema gsql.Schema
	mu     sync.Mutex
	rows   []gsql.Row
}

// It is not a TruncateableTable on purpose: the engine's truncate path for
// DELETE without WHERE looks the table up in the session's current
// database and fails with none selected; row by row works everywhere.
var (
	_ gsql.InsertableTable = (*sysTable)(nil)
	_ gsql.DeletableTable  = (*sysTable)(nil)
)

func (t *sysTable) Name() string                { return t.name }
func (t *sysTable) String() string              { return t.name }
func (t *sysTable) Schema() gsql.Schema         { return t.schema }
func (t *sysTable) Collation() gsql.CollationID { return gsql.Collation_Default }
func (t *sysTable) Partitions(*gsql.Context) (gsql.PartitionIter, error) {
	return gsql.PartitionsToPartitionIter(onePartition{}), nil
}

func (t *sysTable) PartitionRows(*gsql.Context, gsql.Partition) (gsql.RowIter, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return gsql.RowsToRowIter(append([]gsql.Row(nil), t.rows...)...), nil
}

func (t *sysTable) Inserter(*gsql.Context) gsql.RowInserter { return &sysTableEditor{t: t} }
func (t *sysTable) Deleter(*gsql.Context) gsql.RowDeleter   { return &sysTableEditor{t: t} }

// sysTableEditor collects one statement's changes and applies them when
// the statement completes, so a failing statement changes nothing.
type sysTableEditor struct {
	t        *sysTable
	ins, del []gsql.Row
}

func (e *sysTableEditor) StatementBegin(*gsql.Context) {}

func (e *sysTableEditor) DiscardChanges(*gsql.Context, error) error {
	e.ins, e.del = nil, nil
	return nil
}

func (e *sysTableEditor) StatementComplete(*gsql.Context) error {
	e.apply()
	return nil
}

func (e *sysTableEditor) Insert(_ *gsql.Context, r gsql.Row) error {
	e.ins = append(e.ins, r.Copy())
	return nil
}

func (e *sysTableEditor) Delete(_ *gsql.Context, r gsql.Row) error {
	e.del = append(e.del, r)
	return nil
}

func (e *sysTableEditor) Close(*gsql.Context) error {
	e.apply()
	return nil
}

func (e *sysTableEditor) apply() {
	if len(e.ins) == 0 && len(e.del) == 0 {
		return
	}
	e.t.mu.Lock()
	defer e.t.mu.Unlock()
	for _, d := range e.del {
		for i, r := range e.t.rows {
			if reflect.DeepEqual(r, d) {
				e.t.rows = append(e.t.rows[:i], e.t.rows[i+1:]...)
				break
			}
		}
	}
	e.t.rows = append(e.t.rows, e.ins...)
	e.ins, e.del = nil, nil
}

// ImportTimeZoneInfo is the stand-in for import_time_zone_info.py (the
// script in <home>/bin executes the simulator binary under that name). It
// takes the script's options, -h host -P port [-p password] [-t tenant]
// -f file, logs in as root, runs the file's statements and checks the row
// counts, printing the script's INFO/ERROR lines. Unlike the real script,
// which catches every error in main and exits 0, it exits 1 when the
// import fails, so a caller can tell.
func ImportTimeZoneInfo(args []string, stdout, stderr io.Writer) int {
	opts, err := parseImportArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "usage: %s -h HOST -P PORT [-p PASSWORD] [-t TENANT] -f FILE\n%s: error: %v\n", TimeZoneScript, TimeZoneScript, err)
		return 2
	}
	if err := importTimeZone(opts, stdout); err != nil {
		fmt.Fprintf(stdout, "ERROR : %v\nERROR : fail to import time zone info\n", err)
		return 1
	}
	return 0
}

type importOpts struct{ host, port, password, tenant, file string }

func parseImportArgs(args []string) (importOpts, error) {
	var o importOpts
	dst := map[string]*string{"-h": &o.host, "--host": &o.host, "-P": &o.port, "--port": &o.port,
		"-p": &o.password, "--password": &o.password, "-t": &o.tenant, "--tenant": &o.tenant, "-f": &o.file, "--file": &o.file}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") && dst[k] != nil {
			*dst[k] = v
			continue
		}
		if p := dst[a]; p != nil {
			if i+1 >= len(args) {
				return o, fmt.Errorf("argument %s: expected one argument", a)
			}
			*p = args[i+1]
			i++
			continue
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && dst[a[:2]] != nil {
			*dst[a[:2]] = a[2:]
			continue
		}
		return o, fmt.Errorf("unrecognized argument %q", a)
	}
	switch {
	case o.host == "":
		return o, errors.New("the following arguments are required: -h/--host")
	case o.port == "":
		return o, errors.New("the following arguments are required: -P/--port")
	case o.file == "":
		return o, errors.New("the following arguments are required: -f/--file")
	}
	return o, nil
}

func importTimeZone(o importOpts, out io.Writer) error {
	f, err := os.Open(o.file)
	if err != nil {
		return err
	}
	script, err := parseTimeZoneFile(f)
	f.Close()
	if err != nil {
		return err
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "root", o.password, "tcp", o.host+":"+o.port
	cfg.Timeout = 10 * time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "INFO : sucess to connect server %s:%s\n", o.host, o.port)
	if o.tenant != "" && !strings.EqualFold(o.tenant, "sys") {
		// The script switches to the tenant with ALTER SYSTEM CHANGE TENANT;
		// the simulator has the sys tenant only.
		return fmt.Errorf("tenant %s: the simulator has only the sys tenant", o.tenant)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range script.stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	fmt.Fprintf(out, "INFO : success to import time zone info (%d statements)\n", len(script.stmts))
	for i, t := range TimeZoneTables {
		var n int
		if err := conn.QueryRowContext(ctx, "select count(*) from oceanbase."+t).Scan(&n); err != nil {
			return err
		}
		fmt.Fprintf(out, "INFO : oceanbase.%s record count -- %d, expect count -- %d\n", t, n, script.want[i])
		if n != script.want[i] {
			return fmt.Errorf("oceanbase.%s has %d rows, the file says %d", t, n, script.want[i])
		}
	}
	for _, s := range script.version {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}
