package obsim_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/obflow/obflow/internal/obsim"
)

// tzCounts reads the row counts of the four time zone tables.
func tzCounts(t testing.TB, h *host, password string) [4]int {
	t.Helper()
	db := open(t, "root", password, h.ip, "")
	var out [4]int
	for i, tbl := range obsim.TimeZoneTables {
		if err := db.QueryRow("SELECT COUNT(*) FROM oceanbase." + tbl).Scan(&out[i]); err != nil {
			t.Fatalf("count %s on %s: %v", tbl, h.ip, err)
		}
	}
	return out
}

// TestTimeZone loads the time zone data both ways OceanBase does (LOAD
// MODULE DATA, and bin/import_time_zone_info.py as obshell runs it), on a
// member, and finds the same rows on every server and after a restart.
func TestTimeZone(t *testing.T) {
	t.Parallel()
	h1 := newHost(t, "127.0.1.52", "zone1")
	h2 := newHost(t, "127.0.1.53", "zone2")
	startAll(t, h1, h2)
	for _, f := range []string{filepath.Join(h1.home, "bin", obsim.TimeZoneScript), filepath.Join(h1.home, "etc", obsim.TimeZoneFile)} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("Install did not put %s: %v", f, err)
		}
	}
	member := open(t, "root", "", h2.ip, "")
	_, err := member.Query("SELECT * FROM oceanbase.__all_tenant_time_zone")
	expectErr(t, err, 1146, "__all_tenant_time_zone")
	exec1(t, open(t, "root", "", h1.ip, ""), "ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.52:2882', ZONE 'zone2' SERVER '127.0.1.53:2882'")
	if got := tzCounts(t, h2, ""); got != [4]int{} {
		t.Fatalf("time zone tables before loading: %v", got)
	}
	want := [4]int{3, 4, 4, 4} // the counts at the end of the simulator's timezone_V1.log

	exec1(t, member, "ALTER SYSTEM LOAD MODULE DATA module=timezone tenant=sys")
	for _, h := range []*host{h1, h2} {
		if got := tzCounts(t, h, ""); got != want {
			t.Fatalf("after LOAD MODULE DATA on %s: %v, want %v", h.ip, got, want)
		}
	}
	var off int
	if err := member.QueryRow("SELECT tt.`offset` FROM oceanbase.__all_tenant_time_zone_name n" +
		" JOIN oceanbase.__all_tenant_time_zone_transition_type tt ON tt.time_zone_id = n.time_zone_id" +
		" WHERE n.name = 'Asia/Shanghai'").Scan(&off); err != nil || off != 28800 {
		t.Fatalf("Asia/Shanghai offset %d, %v", off, err)
	}
	// Loading again, on the leader, replaces the rows instead of adding to them.
	exec1(t, open(t, "root", "", h1.ip, ""), "ALTER SYSTEM LOAD MODULE DATA module=timezone tenant=sys infile='etc/timezone_V1.log'")
	if got := tzCounts(t, h1, ""); got != want {
		t.Fatalf("after a second load: %v", got)
	}
	_, err = member.Exec("ALTER SYSTEM LOAD MODULE DATA module=timezone tenant=sys infile='etc/nothing.log'")
	expectErr(t, err, 4027, "nothing.log")

	// The stand-in script, called the way the stand-in is executed (no
	// Python needed here), with a password and through the member.
	exec1(t, member, "DELETE FROM oceanbase.__all_tenant_time_zone_name")
	exec1(t, member, "ALTER USER root IDENTIFIED BY 'p''w'")
	var out bytes.Buffer
	args := []string{"-h" + h2.ip, "-P2881", "-tsys", "-f" + filepath.Join(h2.home, "etc", obsim.TimeZoneFile)}
	if code := obsim.ImportTimeZoneInfo(args, &out, &out); code != 1 || !strings.Contains(out.String(), "Access denied") {
		t.Fatalf("without the password: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := obsim.ImportTimeZoneInfo(append(args, "-pp'w"), &out, &out); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if got := tzCounts(t, h1, "p'w"); got != want {
		t.Fatalf("after the import: %v\n%s", got, out.String())
	}

	// The script itself, through Python as obshell runs it.
	python, err := exec.LookPath("python")
	if err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			t.Log("neither python nor python3 found: the script's Python wrapper is not run")
		}
	}
	if python != "" {
		exec1(t, open(t, "root", "p'w", h1.ip, ""), "DELETE FROM oceanbase.__all_tenant_time_zone")
		cmd := exec.Command("/bin/bash", "-c", python+" "+filepath.Join(h1.home, "bin", obsim.TimeZoneScript)+
			" -h"+h1.ip+" -P2881 -tsys -f"+filepath.Join(h1.home, "etc", obsim.TimeZoneFile)+` -p'p'"'"'w'`)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, b)
		}
		if got := tzCounts(t, h2, "p'w"); got != want {
			t.Fatalf("after the script: %v\n%s", got, b)
		}
	}

	// The rows are the leader's data: they survive its restart.
	h1.stop(t)
	h1.start(t)
	if got := tzCounts(t, h2, "p'w"); got != want {
		t.Fatalf("after restarting the leader: %v", got)
	}
}
