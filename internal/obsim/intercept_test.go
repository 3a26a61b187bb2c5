package obsim

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		q    string
		want Statement
		code int // expected error number, 0 for none
	}{
		{q: "ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '10.0.0.1:2882', ZONE 'zone2' SERVER '10.0.0.2:2882'",
			want: Statement{Kind: StmtBootstrap, RSList: []ZoneServer{{Zone: "zone1", Server: "10.0.0.1:2882"}, {Zone: "zone2", Server: "10.0.0.2:2882"}}}},
		{q: "alter system bootstrap cluster primary region = 'r' zone = z1 server = '[::1]:2882';",
			want: Statement{Kind: StmtBootstrap, RSList: []ZoneServer{{Region: "r", Zone: "z1", Server: "[::1]:2882"}}}},
		{q: "ALTER SYSTEM BOOTSTRAP ZONE 'zone1'", code: 1064},
		{q: "ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '1.1.1.1:1' extra", code: 1064},
		{q: "ALTER SYSTEM ADD SERVER '10.0.0.3:2882' ZONE 'zone1'",
			want: Statement{Kind: StmtAddServer, Servers: []string{"10.0.0.3:2882"}, Zone: "zone1"}},
		{q: "ALTER SYSTEM ADD SERVER '10.0.0.3:2882', '10.0.0.4:2882'",
			want: Statement{Kind: StmtAddServer, Servers: []string{"10.0.0.3:2882", "10.0.0.4:2882"}}},
		{q: `ALTER USER root IDENTIFIED BY "a\"b"`,
			want: Statement{Kind: StmtAlterUser, Users: []string{"root"}, Password: `a"b`, HasPassword: true}},
		{q: "alter user 'root'@'%' identified by 'x''y'",
			want: Statement{Kind: StmtAlterUser, Users: []string{"root"}, Password: "x'y", HasPassword: true}},
		{q: "SET PASSWORD = PASSWORD('p')",
			want: Statement{Kind: StmtAlterUser, Users: []string{"root"}, Password: "p", HasPassword: true}},
		// obshell escapes ' in proxyro's password as '"'"'; SQL concatenates
		// the adjacent literals.
		{q: "CREATE USER IF NOT EXISTS `proxyro`@`%` IDENTIFIED BY 'a'\"'\"'b'",
			want: Statement{Kind: StmtCreateUser, Users: []string{"proxyro"}, Password: "a'b", HasPassword: true, IfNotExists: true}},
		{q: "CREATE USER IF NOT EXISTS `proxyro`@`%` IDENTIFIED BY 'pw'",
			want: Statement{Kind: StmtCreateUser, Users: []string{"proxyro"}, Password: "pw", HasPassword: true, IfNotExists: true}},
		{q: "CREATE USER proxyro",
			want: Statement{Kind: StmtCreateUser, Users: []string{"proxyro"}}},
		{q: "GRANT SELECT ON oceanbase.* TO proxyro",
			want: Statement{Kind: StmtGrant, Users: []string{"proxyro"}, Grant: "SELECT ON oceanbase.*"}},
		{q: "alter system load module data module=timezone tenant=sys",
			want: Statement{Kind: StmtLoadModule, Module: "timezone", Tenant: "sys"}},
		{q: "ALTER SYSTEM LOAD MODULE DATA MODULE = timezone TENANT = 'sys' INFILE = 'etc/timezone_V1.log'",
			want: Statement{Kind: StmtLoadModule, Module: "timezone", Tenant: "sys", Infile: "etc/timezone_V1.log"}},
		{q: "DELETE FROM oceanbase.__all_tenant_time_zone_name;",
			want: Statement{Kind: StmtRewrite, Rewritten: "DELETE FROM oceanbase.__all_tenant_time_zone_name WHERE 1=1",
				SysTables: []string{"__all_tenant_time_zone_name"}}},
		{q: "DELETE FROM t WHERE id = 1", want: Statement{Kind: StmtEngine}},
		{q: "ALTER SYSTEM MAJOR FREEZE", want: Statement{Kind: StmtUnsupported, What: "this ALTER SYSTEM statement is"}},
		{q: "CREATE DATABASE IF NOT EXISTS ocs READ WRITE",
			want: Statement{Kind: StmtRewrite, Rewritten: "CREATE DATABASE IF NOT EXISTS ocs"}},
		{q: "CREATE DATABASE x", want: Statement{Kind: StmtEngine}},
		{q: "CREATE TABLE IF NOT EXISTS ocs.t (`a` varchar(64) NOT NULL,`s` VARCHAR (65536) NOT NULL,`b` varchar(16383))",
			want: Statement{Kind: StmtRewrite, Rewritten: "CREATE TABLE IF NOT EXISTS ocs.t (`a` varchar(64) NOT NULL,`s` mediumtext NOT NULL,`b` varchar(16383))"}},
		{q: "alter table t add column s varchar(262144)",
			want: Statement{Kind: StmtRewrite, Rewritten: "alter table t add column s mediumtext"}},
		{q: "CREATE TABLE t (s varchar(262145), b varchar(16383))", want: Statement{Kind: StmtEngine}},
		{q: "select * from oceanbase.DBA_OB_SERVERS s join oceanbase.dba_ob_zones z on s.zone = z.zone",
			want: Statement{Kind: StmtEngine, ClusterViews: []string{"DBA_OB_SERVERS", "DBA_OB_ZONES"}, Local: true}},
		{q: "SELECT 'DBA_OB_SERVERS'", want: Statement{Kind: StmtEngine}},
		{q: "SELECT ob_version()", want: Statement{Kind: StmtEngine, Local: true}},
		{q: "SELECT @@version_comment", want: Statement{Kind: StmtEngine, Local: true}},
		{q: "SHOW VARIABLES LIKE 'version_comment'", want: Statement{Kind: StmtEngine, Local: true}},
		{q: "INSERT INTO t VALUES ('ALTER SYSTEM BOOTSTRAP')", want: Statement{Kind: StmtEngine}},
		{q: "/* hint */ ALTER SYSTEM ADD SERVER '1.2.3.4:5' ZONE z -- trailing",
			want: Statement{Kind: StmtAddServer, Servers: []string{"1.2.3.4:5"}, Zone: "z"}},
	}
	for _, tt := range tests {
		got, err := Classify(tt.q)
		if tt.code != 0 {
			var se *mysql.SQLError
			if !errors.As(err, &se) || se.Num != tt.code {
				t.Errorf("Classify(%q) error = %v, want %d", tt.q, err, tt.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("Classify(%q): %v", tt.q, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Classify(%q)\n got %+v\nwant %+v", tt.q, got, tt.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	o, err := ParseArgs([]string{"-z", "zone1", "-n", "c1", "-c7", "--ipv6", "-I", "::1", "-p", "2881", "-P", "2882", "-d", "/h/store",
		"-o", "memory_limit=16G, system_memory=8G,,", "-l", "INFO", "-i", "eth0", "-r", "a:1:2"})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{ClusterName: "c1", ClusterID: "7", Zone: "zone1", DataDir: "/h/store", LocalIP: "::1", DevName: "eth0",
		MySQLPort: 2881, RPCPort: 2882, SyslogLevel: "INFO", RootServiceList: "a:1:2", IPv6: true,
		Params: map[string]string{"memory_limit": "16G", "system_memory": "8G"}}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("got %+v\nwant %+v", o, want)
	}
	if err := o.validateFirstStart(); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{{"-x", "1"}, {"--nope=1"}, {"-p"}, {"-p", "http"}, {"-P", "70000"}, {"stray"}, {"-o", "novalue"}} {
		if _, err := ParseArgs(bad); err == nil {
			t.Errorf("ParseArgs(%q) accepted", bad)
		}
	}
	partial, _ := ParseArgs([]string{"-n", "c1", "-p", "2881"})
	if err := partial.validateFirstStart(); err == nil || !strings.Contains(err.Error(), "zone (-z)") {
		t.Errorf("validateFirstStart = %v", err)
	}
	merged := Options{Zone: "z2", Params: map[string]string{"a": "2"}}.mergeOver(want)
	if merged.Zone != "z2" || merged.ClusterName != "c1" || merged.Params["a"] != "2" || merged.Params["memory_limit"] != "16G" {
		t.Errorf("mergeOver = %+v", merged)
	}
}

func TestLoginName(t *testing.T) {
	for in, want := range map[string][3]string{
		"root":           {"root", "", ""},
		"root@sys":       {"root", "sys", ""},
		"root@sys#c1":    {"root", "sys", "c1"},
		"proxyro@sys#c1": {"proxyro", "sys", "c1"},
	} {
		u, tn, c := loginName(in)
		if [3]string{u, tn, c} != want {
			t.Errorf("loginName(%q) = %q %q %q", in, u, tn, c)
		}
	}
}

// FuzzClassify feeds arbitrary text to the statement interceptor: it must
// never panic, its errors must be MySQL errors, what it reports must be
// consistent, and the prepared-statement stand-in must round-trip.
func FuzzClassify(f *testing.F) {
	f.Add("ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.0.1:2882'")
	f.Add("SELECT 1")
	f.Fuzz(func(t *testing.T, q string) {
		st, err := Classify(q)
		if err != nil {
			var se *mysql.SQLError
			if !errors.As(err, &se) {
				t.Fatalf("Classify(%q) returned a non-SQL error %T: %v", q, err, err)
			}
			return
		}
		switch st.Kind {
		case StmtBootstrap:
			if len(st.RSList) == 0 {
				t.Fatalf("bootstrap without servers: %q", q)
			}
		case StmtAddServer:
			if len(st.Servers) == 0 {
				t.Fatalf("add server without servers: %q", q)
			}
		case StmtAlterUser, StmtCreateUser, StmtGrant:
			if len(st.Users) == 0 || st.Users[0] == "" {
				t.Fatalf("user statement without user: %q", q)
			}
		case StmtRewrite:
			if st.Rewritten == "" || len(st.Rewritten) >= len(q) {
				t.Fatalf("bad rewrite of %q: %q", q, st.Rewritten)
			}
		}
		if stand, ok := psStandIn(q); ok {
			if back := psOriginal(stand); back != q {
				t.Fatalf("stand-in does not round-trip: %q -> %q", q, back)
			}
		}
		if psOriginal(q) != q && !strings.HasPrefix(q, psMarker) {
			t.Fatalf("psOriginal changed an unmarked query %q", q)
		}
	})
}
