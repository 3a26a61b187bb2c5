package obsim_test

import "testing"

// TestRegexp checks MySQL's REGEXP functions end to end. go-mysql-server's
// regex package is replaced by internal/replacements/go-icu-regex (see go.mod), so
// this is what proves the replacement is wired in and behaves like MySQL.
func TestRegexp(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.31", "zone1")
	h.start(t)
	db := open(t, "root", "", h.ip, "")
	for _, c := range []struct{ query, want string }{
		{"SELECT 'observer' REGEXP '^obs'", "1"},
		{"SELECT 'observer' REGEXP '^OBS'", "1"}, // the default collation ignores case
		{"SELECT REGEXP_LIKE('observer', '^OBS', 'c')", "0"},
		{"SELECT REGEXP_INSTR('zone1,zone22', 'zone[0-9]+', 1, 2)", "7"},
		{"SELECT REGEXP_SUBSTR('zone1,zone22', 'zone[0-9]+', 1, 2)", "zone22"},
		{"SELECT REGEXP_REPLACE('127.0.0.1:2882', '([0-9.]+):([0-9]+)', '$2@$1')", "2882@127.0.0.1"},
		{"SELECT REGEXP_REPLACE('a-b-c', '-', '+', 1, 2)", "a-b+c"},
	} {
		var got string
		if err := db.QueryRow(c.query).Scan(&got); err != nil || got != c.want {
			t.Errorf("%s = %q, %v; want %q", c.query, got, err, c.want)
		}
	}
	_, err := db.Exec("SELECT REGEXP_LIKE('a', '(')")
	if err == nil {
		t.Error("an invalid pattern was accepted")
	}
}
