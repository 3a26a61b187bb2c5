package obsim

import (
	"strings"
	"testing"
	"time"
)

func TestNormalizeStatement(t *testing.T) {
	for in, want := range map[string]string{
		"ALTER USER root":                           "ALTER USER ROOT",
		"  \n\talter   user\troot":                  "ALTER USER ROOT",
		"/* hint */ ALTER  SYSTEM BOOTSTRAP":        "ALTER SYSTEM BOOTSTRAP",
		"-- note\n# more\n/*a*//*b*/ insert into t": "INSERT INTO T",
		"/* unterminated":                           "",
		"-- only a comment":                         "",
		"--x":                                       "--X", // not a comment in MySQL without the space
	} {
		if got := normalizeStatement(in); got != want {
			t.Errorf("normalizeStatement(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatementFaultMatching(t *testing.T) {
	f := Faults{
		StatementDelaysMS: map[string]int{"alter  system": 100, "ALTER SYSTEM BOOTSTRAP": 200, "insert into": 300},
		StatementErrors:   map[string]SQLErrorSpec{"alter system load module data": {Code: 1064, Message: "syntax"}},
	}
	for q, want := range map[string]time.Duration{
		"ALTER SYSTEM BOOTSTRAP ZONE 'z1' SERVER '1.2.3.4:2882'": 200 * time.Millisecond, // the longest prefix wins
		"alter system add server '1.2.3.4:2882' zone 'z1'":       100 * time.Millisecond,
		" /*x*/ INSERT\n INTO t VALUES (1)":                      300 * time.Millisecond,
		"INSERT t VALUES (1)":                                    0,
		"SELECT 'ALTER SYSTEM BOOTSTRAP'":                        0,
	} {
		if got := f.statementDelay(normalizeStatement(q)); got != want {
			t.Errorf("delay of %q = %v, want %v", q, got, want)
		}
	}
	if e := f.statementError(normalizeStatement("ALTER SYSTEM LOAD MODULE DATA module=timezone tenant=sys")); e == nil || e.Code != 1064 {
		t.Errorf("error of LOAD MODULE DATA = %+v", e)
	}
	if e := f.statementError(normalizeStatement("ALTER SYSTEM BOOTSTRAP")); e != nil {
		t.Errorf("error of BOOTSTRAP = %+v", e)
	}
}

func TestProfiles(t *testing.T) {
	f, err := Faults{Profile: ProfileReal, BootstrapDelayMS: 5, StatementDelaysMS: map[string]int{"alter system add server": 7}}.withProfile()
	if err != nil {
		t.Fatal(err)
	}
	real := Profiles[ProfileReal]
	if f.StartDelayMS != real.StartDelayMS || f.BootstrapDelayMS != 5 {
		t.Errorf("start %d (want the profile's %d), bootstrap %d (want the file's 5)", f.StartDelayMS, real.StartDelayMS, f.BootstrapDelayMS)
	}
	if d := f.statementDelay(normalizeStatement("ALTER SYSTEM LOAD MODULE DATA module=timezone")); d != 30*time.Second {
		t.Errorf("LOAD MODULE DATA hold %v", d)
	}
	if d := f.statementDelay(normalizeStatement("ALTER SYSTEM ADD SERVER 'x'")); d != 7*time.Millisecond {
		t.Errorf("ADD SERVER hold %v, want the file's 7ms over the profile's", d)
	}
	if _, err := (Faults{Profile: "rael"}).withProfile(); err == nil || !strings.Contains(err.Error(), "rael") {
		t.Errorf("unknown profile: %v", err)
	}
	// The profile's own map is not modified by merging.
	if len(real.StatementDelaysMS) != 2 {
		t.Errorf("profile changed: %+v", real.StatementDelaysMS)
	}
}

func TestParseTimeZoneFile(t *testing.T) {
	script, err := parseTimeZoneFile(strings.NewReader(string(timeZoneLog)))
	if err != nil {
		t.Fatal(err)
	}
	if script.want != [4]int{3, 4, 4, 4} {
		t.Errorf("counts %v", script.want)
	}
	if len(script.stmts) != 8 {
		t.Fatalf("%d statements: %q", len(script.stmts), script.stmts)
	}
	for _, s := range script.stmts {
		if strings.Contains(s, "tid") || strings.Contains(s, "ORDER BY") || strings.Contains(s, "TRUNCATE") {
			t.Errorf("statement not rewritten: %q", s)
		}
		if !strings.Contains(s, "oceanbase.__all_tenant_time_zone") {
			t.Errorf("statement does not name the oceanbase tables: %q", s)
		}
	}
	if !strings.HasPrefix(script.stmts[0], "DELETE FROM oceanbase.__all_tenant_time_zone;") {
		t.Errorf("first statement %q", script.stmts[0])
	}
}

func TestParseImportArgs(t *testing.T) {
	// obshell's command line: attached values, the password quoted by bash.
	o, err := parseImportArgs([]string{"-h127.0.0.1", "-P2881", "-tsys", "-f/home/etc/timezone_V1.log", "-pa'b"})
	if err != nil || o != (importOpts{host: "127.0.0.1", port: "2881", tenant: "sys", file: "/home/etc/timezone_V1.log", password: "a'b"}) {
		t.Fatalf("%+v %v", o, err)
	}
	o, err = parseImportArgs([]string{"-h", "::1", "--port=2881", "--file", "f"})
	if err != nil || o.host != "::1" || o.port != "2881" || o.file != "f" {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range [][]string{{"-h", "x", "-P", "1"}, {"-P1", "-ff"}, {"-h", "x", "-P1", "-ff", "--what"}, {"-h"}} {
		if _, err := parseImportArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
