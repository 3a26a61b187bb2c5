package devserver

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPostgresURL(t *testing.T) {
	st, err := postgresStore("postgresql://temporal:p%40ss%2Fw0rd@db.example:6543/flows?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=10")
	if err != nil {
		t.Fatal(err)
	}
	m, v := st.main, st.visibility
	if m.User != "temporal" || m.Password != "p@ss/w0rd" || m.ConnectAddr != "db.example:6543" || m.DatabaseName != "flows" {
		t.Errorf("main = user %q password %q addr %q db %q", m.User, m.Password, m.ConnectAddr, m.DatabaseName)
	}
	if m.PluginName != "postgres12_pgx" || v.PluginName != m.PluginName {
		t.Errorf("plugins %q, %q", m.PluginName, v.PluginName)
	}
	if v.DatabaseName != "flows_visibility" || v.User != m.User || v.Password != m.Password || v.ConnectAddr != m.ConnectAddr {
		t.Errorf("visibility = %+v", v)
	}
	want := map[string]string{"sslmode": "verify-full", "sslrootcert": "/etc/ca.pem", "connect_timeout": "10"}
	if fmt.Sprint(m.ConnectAttributes) != fmt.Sprint(want) || fmt.Sprint(v.ConnectAttributes) != fmt.Sprint(want) {
		t.Errorf("options = %v / %v, want %v", m.ConnectAttributes, v.ConnectAttributes, want)
	}
	if strings.Contains(st.where, "p%40ss") || !strings.Contains(st.where, "temporal:xxxxx@db.example:6543/flows") {
		t.Errorf("where = %q", st.where)
	}

	// Defaults: port 5432, database "temporal", IPv6 host.
	st, err = postgresStore("postgres://u@[::1]")
	if err != nil {
		t.Fatal(err)
	}
	if st.main.ConnectAddr != "[::1]:5432" || st.main.DatabaseName != "temporal" || st.visibility.DatabaseName != "temporal_visibility" || st.main.Password != "" {
		t.Errorf("defaults: %+v", st.main)
	}

	for _, bad := range []string{
		"mysql://u:secretpw@h/db",
		"postgres://h:5432/db",                  // no user
		"postgres://u:secretpw@/db",             // no host
		"postgres://u:secretpw@h:notaport/db",   // bad port
		"postgres://u:secretpw@h/db?host=other", // host outside the URL
		"postgres://u:secretpw@h/db?sslmode=a&sslmode=b",
		"postgres://u:secretpw@h/my%22db", // quote in the name
		"postgres://u:secretpw@h/" + strings.Repeat("d", 60),
		"postgres:u:secretpw@h/db",
	} {
		_, err := postgresStore(bad)
		if err == nil {
			t.Errorf("%s: no error", bad)
			continue
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%s: error shows the password: %v", bad, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:1/db?sslmode=disable": "postgres://u:xxxxx@h:1/db?sslmode=disable",
		"postgres://u@h/db":                      "postgres://u@h/db",
		"postgres://u@h/db?sslpassword=pw":       "postgres://u@h/db?sslpassword=xxxxx",
		"postgres://u:pw@h:bad port/db":          "(database URL that does not parse)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%s) = %s, want %s", in, got, want)
		}
	}
	st := &store{password: "p@ss/w0rd"}
	inner := &StoreError{Store: "x", Err: errors.New("dial postgres://u:p%40ss%2Fw0rd@h and p@ss/w0rd")}
	err := st.redact(inner)
	if strings.Contains(err.Error(), "w0rd") {
		t.Errorf("redacted error = %v", err)
	}
	var se *StoreError
	if !errors.As(err, &se) {
		t.Error("redaction lost the error's type")
	}
}
