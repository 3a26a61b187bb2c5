package regex

import (
	"context"
	"testing"
)

func compile(t *testing.T, pattern string, flags RegexFlags, text string) Regex {
	t.Helper()
	r := CreateRegex(64)
	t.Cleanup(func() { r.Close() })
	if err := r.SetRegexString(context.Background(), pattern, flags); err != nil {
		t.Fatalf("SetRegexString(%q): %v", pattern, err)
	}
	if err := r.SetMatchString(context.Background(), text); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMatches(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		pattern string
		flags   RegexFlags
		text    string
		want    bool
	}{
		{"^obs", 0, "observer", true},
		{"^OBS", 0, "observer", false},
		{"^OBS", RegexFlags_Case_Insensitive, "observer", true},
		{"a.b", 0, "a\nb", false},
		{"a.b", RegexFlags_Dot_All, "a\nb", true},
		{"^b$", 0, "a\nb", false},
		{"^b$", RegexFlags_Multiline, "a\nb", true},
		{"a.b", RegexFlags_Literal, "axb", false},
		{"a.b", RegexFlags_Literal, "a.b", true},
		{"A.B", RegexFlags_Literal | RegexFlags_Case_Insensitive, "a.b", true},
		{"A.B", RegexFlags_Literal | RegexFlags_Dot_All, "a.b", false},
		{"zone[0-9]+", 0, "zone1,zone22", true},
	} {
		got, err := compile(t, c.pattern, c.flags, c.text).Matches(ctx, 0, 0)
		if err != nil || got != c.want {
			t.Errorf("%q flags %d on %q: got %v, %v; want %v", c.pattern, c.flags, c.text, got, err, c.want)
		}
	}
}

func TestPositionsCountCodePoints(t *testing.T) {
	ctx := context.Background()
	r := compile(t, "b+", 0, "äbb-äbbb")
	for _, c := range []struct {
		start, occurrence int
		end               bool
		want              int
	}{
		{1, 1, false, 2},
		{1, 1, true, 4},
		{1, 2, false, 6},
		{1, 2, true, 9},
		{3, 1, false, 3}, // a search from position 3 starts inside the first run
		{1, 3, false, 0},
		{20, 1, false, 0},
	} {
		got, err := r.IndexOf(ctx, c.start, c.occurrence, c.end)
		if err != nil || got != c.want {
			t.Errorf("IndexOf(%d, %d, %v) = %d, %v; want %d", c.start, c.occurrence, c.end, got, err, c.want)
		}
	}
	if s, ok, err := r.Substring(ctx, 1, 2); err != nil || !ok || s != "bbb" {
		t.Errorf("Substring(1, 2) = %q, %v, %v", s, ok, err)
	}
	if _, ok, err := r.Substring(ctx, 1, 3); err != nil || ok {
		t.Errorf("Substring(1, 3) found %v, %v", ok, err)
	}
}

func TestReplace(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		pattern, text, repl string
		pos, occ            int
		want                string
	}{
		{"o", "foo boo", "0", 1, 0, "f00 b00"},
		{"o", "foo boo", "0", 1, 3, "foo b0o"},
		{"o", "foo boo", "0", 4, 0, "foo b00"},
		{"o", "foo boo", "0", 1, 9, "foo boo"},
		{"(\\w+)@(\\w+)", "root@sys", "$2.$1", 1, 0, "sys.root"},
		{"(a)", "a", "\\$1", 1, 0, "$1"},
		{"x", "é-x", "y", 3, 1, "é-y"},
	} {
		got, err := compile(t, c.pattern, 0, c.text).Replace(ctx, c.repl, c.pos, c.occ)
		if err != nil || got != c.want {
			t.Errorf("replace %q in %q by %q from %d occurrence %d = %q, %v; want %q", c.pattern, c.text, c.repl, c.pos, c.occ, got, err, c.want)
		}
	}
	for _, bad := range []string{"$", "$x", "$2", "\\"} {
		if _, err := compile(t, "(a)", 0, "a").Replace(ctx, bad, 1, 0); !ErrInvalidRegex.Is(err) {
			t.Errorf("replacement %q: err %v, want ErrInvalidRegex", bad, err)
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	r := CreateRegex(0)
	if err := r.SetMatchString(ctx, "x"); !ErrRegexNotYetSet.Is(err) {
		t.Errorf("match before regex: %v", err)
	}
	if _, err := r.Matches(ctx, 0, 0); !ErrRegexNotYetSet.Is(err) {
		t.Errorf("Matches before regex: %v", err)
	}
	for _, c := range []struct {
		pattern string
		flags   RegexFlags
	}{{"(", 0}, {"(a)\\1", 0}, {"a(?=b)", 0}, {"a", RegexFlags_Comments}} {
		if err := r.SetRegexString(ctx, c.pattern, c.flags); !ErrInvalidRegex.Is(err) {
			t.Errorf("pattern %q flags %d: %v, want ErrInvalidRegex", c.pattern, c.flags, err)
		}
	}
	if err := r.SetRegexString(ctx, "a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.IndexOf(ctx, 1, 1, false); !ErrMatchNotYetSet.Is(err) {
		t.Errorf("IndexOf before match string: %v", err)
	}
	if r.StringBufferSize() != 0 || r.Close() != nil {
		t.Error("StringBufferSize or Close")
	}
}
