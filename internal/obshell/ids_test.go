package obshell

import (
	"strings"
	"testing"

	"github.com/obflow/obflow/internal/obcluster"
)

func TestGenericIDEncodeDecode(t *testing.T) {
	tests := []struct {
		agent obcluster.Agent
		id    int64
		want  string
	}{
		{obcluster.Agent{IP: "10.0.0.1", Port: 2886}, 3, "20167772161028863"},
		{obcluster.Agent{IP: "127.0.3.2", Port: 2886}, 12, "2" + "2130707202" + "02886" + "12"},
		{obcluster.Agent{IP: "0.0.0.1", Port: 1}, 7, "20000000001000017"},
		{obcluster.Agent{IP: "::1", Port: 2886}, 5, "3" + strings.Repeat("0", 38) + "1" + "02886" + "5"},
		{obcluster.Agent{IP: "fe80::1", Port: 65535}, 0, "3338288524927261089654018896841347694593" + "65535" + "0"},
	}
	for _, tt := range tests {
		got, err := EncodeLocalID(tt.agent, tt.id)
		if err != nil || got != tt.want {
			t.Fatalf("EncodeLocalID(%v,%d) = %q, %v; want %q", tt.agent, tt.id, got, err, tt.want)
		}
		g, err := ParseGenericID(got)
		if err != nil {
			t.Fatalf("ParseGenericID(%q): %v", got, err)
		}
		if g.Agent == nil || *g.Agent != tt.agent || g.ID != tt.id || !g.IsLocal() || g.String() != got {
			t.Fatalf("round trip %q: %+v %v", got, g, g.Agent)
		}
	}
	g, err := ParseGenericID("142")
	if err != nil || g.Agent != nil || g.ID != 42 || g.Prefix != PrefixCluster || g.String() != EncodeClusterID(42) {
		t.Fatalf("cluster id: %+v %v", g, err)
	}
	g, err = ParseGenericID("40167772161028869")
	if err != nil || !g.IsObproxy() || g.Agent.IP != "10.0.0.1" || g.ID != 9 {
		t.Fatalf("obproxy id: %+v %v", g, err)
	}
	if _, err := EncodeLocalID(obcluster.Agent{IP: "nope", Port: 1}, 1); !HasCode(err, CodeCommonInvalidIP) {
		t.Fatalf("bad ip: %v", err)
	}
}

func TestParseGenericIDErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"", "Invalid ID: "},
		{"1", "Invalid ID: 1"},
		{"2016777216102886", "Invalid ID: 2016777216102886"},
		{"3" + strings.Repeat("0", 44), "Invalid ID: 3" + strings.Repeat("0", 44)},
		{"9123", "Invalid ID: 9123: invalid generic id"},
		{"x", "Invalid ID: x: invalid generic id"},
		{"2016777216a028863", "Invalid ID: 2016777216a028863: convert id to bigInt failed"},
		{"29999999999028863", "Invalid ID: 29999999999028863: convert id to ip failed"},
		{"20167772169999993", "Invalid ID: 20167772169999993: parse port failed"},
		{"2016777216102886x", `Invalid ID: 2016777216102886x: strconv.ParseInt: parsing "x": invalid syntax`},
		{"1-5", `Invalid ID: 1-5: strconv.ParseInt: parsing "-5": invalid syntax`},
		{"199999999999999999999", `Invalid ID: 199999999999999999999: strconv.ParseInt: parsing "99999999999999999999": value out of range`},
	}
	for _, tt := range tests {
		_, err := ParseGenericID(tt.in)
		status, api := ToAPIError(err)
		if err == nil || status != 400 || api.ErrCode != "Task.GenericID.Invalid" || api.Message != tt.msg {
			t.Errorf("ParseGenericID(%q) = %d %+v, want message %q", tt.in, status, api, tt.msg)
		}
	}
}

func TestDerivedIDs(t *testing.T) {
	n, err := NodeID(7, 3)
	if err != nil || n != 703 {
		t.Fatalf("NodeID: %d %v", n, err)
	}
	s, err := SubTaskID(7, 3, 2)
	if err != nil || s != 703002 {
		t.Fatalf("SubTaskID: %d %v", s, err)
	}
	if d, st, ok := SplitNodeID(n); !ok || d != 7 || st != 3 {
		t.Fatalf("SplitNodeID: %d %d %v", d, st, ok)
	}
	if d, st, h, ok := SplitSubTaskID(s); !ok || d != 7 || st != 3 || h != 2 {
		t.Fatalf("SplitSubTaskID: %d %d %d %v", d, st, h, ok)
	}
	// Largest values still fit.
	big, err := SubTaskID(MaxDagID, MaxStages, MaxHostsPerStage-1)
	if err != nil || big < 0 {
		t.Fatalf("max: %d %v", big, err)
	}
	if d, st, h, ok := SplitSubTaskID(big); !ok || d != MaxDagID || st != MaxStages || h != MaxHostsPerStage-1 {
		t.Fatalf("max split: %d %d %d", d, st, h)
	}
	for _, bad := range [][3]int64{{0, 1, 0}, {MaxDagID + 1, 1, 0}, {1, 0, 0}, {1, MaxStages + 1, 0}, {1, 1, -1}, {1, 1, MaxHostsPerStage}} {
		if _, err := SubTaskID(bad[0], int(bad[1]), int(bad[2])); err == nil {
			t.Errorf("SubTaskID%v must fail", bad)
		}
	}
	for _, bad := range []int64{-1, 0, 5, 100, 1700} {
		if _, _, ok := SplitNodeID(bad); ok {
			t.Errorf("SplitNodeID(%d) must fail", bad)
		}
	}
	if _, _, _, ok := SplitSubTaskID(100999); ok { // stage 0
		t.Error("SplitSubTaskID(100999) must fail")
	}
	dag, _ := LocalGenericID(obcluster.Agent{IP: "10.0.0.1", Port: 2886}, 7)
	if got := dag.WithID(n).String(); got != "2016777216102886703" {
		t.Fatalf("node generic id: %s", got)
	}
}

func FuzzParseGenericID(f *testing.F) {
	for _, s := range []string{"20167772161028863", "142", "3" + strings.Repeat("9", 50), "", "1", "2x", "5" + strings.Repeat("0", 45)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGenericID(s)
		if err != nil {
			if !HasCode(err, CodeTaskGenericIDInvalid) {
				t.Fatalf("wrong code for %q: %v", s, err)
			}
			return
		}
		// A parsed id re-encodes and parses to the same value.
		enc := g.String()
		if enc == "" {
			t.Fatalf("parsed %q but cannot encode %+v", s, g)
		}
		g2, err := ParseGenericID(enc)
		if err != nil || g2.ID != g.ID || g2.Prefix != g.Prefix || (g.Agent == nil) != (g2.Agent == nil) ||
			(g.Agent != nil && *g.Agent != *g2.Agent) {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, g, enc, g2, err)
		}
	})
}
