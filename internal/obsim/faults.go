package obsim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Faults switches simulated failures on for one host. It is read from
// FaultsPath(home) when the observer starts and again right before each
// affected action, so a test can change it while the observer runs. The zero
// value (or a missing file) means no faults.
type Faults struct {
	// StartDelayMS delays readiness (block_file, accepting SQL) after the
	// daemon has bound its ports.
	StartDelayMS int `json:"start_delay_ms,omitempty"`
	// ExitDuringStart makes the daemon exit with this code after the start
	// delay and before it becomes ready. 0 means no exit.
	ExitDuringStart int `json:"exit_during_start,omitempty"`
	// CrashAfterMS kills the daemon with SIGKILL this long after it became
	// ready, leaving a stale pid file like a crash does. 0 means never.
	CrashAfterMS int `json:"crash_after_ms,omitempty"`
	// BootstrapError makes ALTER SYSTEM BOOTSTRAP fail with this error
	// (checked after BootstrapDelayMS). Nothing is changed when it fails.
	BootstrapError *SQLErrorSpec `json:"bootstrap_error,omitempty"`
	// BootstrapDelayMS delays ALTER SYSTEM BOOTSTRAP before it acts.
	BootstrapDelayMS int `json:"bootstrap_delay_ms,omitempty"`
	// RefuseConnections closes every new MySQL connection right after
	// accepting it, before the handshake.
	RefuseConnections bool `json:"refuse_connections,omitempty"`
	// Version replaces the reported OceanBase version (e.g. "4.2.1.0") in
	// ob_version(), VERSION(), version_comment and the handshake of new
	// connections.
	Version string `json:"version,omitempty"`
	// StatementDelaysMS holds every statement that starts with one of these
	// prefixes (case-insensitive, compared after leading whitespace and
	// comments are skipped and runs of whitespace collapsed) this long
	// before it takes effect. See holdStatement.
	StatementDelaysMS map[string]int `json:"statement_delays_ms,omitempty"`
	// StatementErrors fails every statement that starts with one of these
	// prefixes (matched like StatementDelaysMS) with the error, after any
	// hold and before it takes effect.
	StatementErrors map[string]SQLErrorSpec `json:"statement_errors,omitempty"`
	// Profile names a set of fault values (see Profiles); the fields set in
	// the file win over the profile's.
	Profile string `json:"profile,omitempty"`
}

// ProfileReal is the profile with a real observer's durations.
const ProfileReal = "real"

// Profiles are the named fault sets a fault file can ask for with
// "profile". "real" gives the simulator the durations of a real observer
// on real hardware (the figures and where they come from are in the
// README, section "Profiles").
var Profiles = map[string]Faults{
	ProfileReal: {
		StartDelayMS:     20_000,
		BootstrapDelayMS: 120_000,
		StatementDelaysMS: map[string]int{
			"ALTER SYSTEM LOAD MODULE DATA": 30_000,
			"ALTER SYSTEM ADD SERVER":       3_000,
		},
	},
}

// withProfile returns f with its profile's values filled in where f sets
// none. An unknown profile is an error, so a typo does not silently run a
// test at full speed.
func (f Faults) withProfile() (Faults, error) {
	if f.Profile == "" {
		return f, nil
	}
	p, ok := Profiles[f.Profile]
	if !ok {
		return f, fmt.Errorf("unknown fault profile %q", f.Profile)
	}
	if f.StartDelayMS == 0 {
		f.StartDelayMS = p.StartDelayMS
	}
	if f.BootstrapDelayMS == 0 {
		f.BootstrapDelayMS = p.BootstrapDelayMS
	}
	if len(p.StatementDelaysMS) > 0 {
		merged := make(map[string]int, len(p.StatementDelaysMS)+len(f.StatementDelaysMS))
		for k, v := range p.StatementDelaysMS {
			merged[normalizeStatement(k)] = v
		}
		for k, v := range f.StatementDelaysMS {
			merged[normalizeStatement(k)] = v
		}
		f.StatementDelaysMS = merged
	}
	return f, nil
}

// statementDelay is the hold for a statement (normalized with
// normalizeStatement); the longest matching prefix wins.
func (f Faults) statementDelay(norm string) time.Duration {
	best, ms := -1, 0
	for prefix, d := range f.StatementDelaysMS {
		p := normalizeStatement(prefix)
		if p != "" && strings.HasPrefix(norm, p) && len(p) > best {
			best, ms = len(p), d
		}
	}
	return time.Duration(ms) * time.Millisecond
}

// statementError is the fault error for a statement, or nil.
func (f Faults) statementError(norm string) *SQLErrorSpec {
	best := -1
	var out *SQLErrorSpec
	for prefix, e := range f.StatementErrors {
		p := normalizeStatement(prefix)
		if p != "" && strings.HasPrefix(norm, p) && len(p) > best {
			e := e
			best, out = len(p), &e
		}
	}
	return out
}

// normalizeStatement prepares a statement (or a fault prefix) for prefix
// matching: leading whitespace and comments are skipped, every run of
// whitespace becomes one space, letters are upper-cased. String literals
// are not treated specially: only the statement's start matters.
func normalizeStatement(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n\f\v")
		switch {
		case strings.HasPrefix(q, "/*"):
			end := strings.Index(q[2:], "*/")
			if end < 0 {
				return ""
			}
			q = q[end+4:]
			continue
		case strings.HasPrefix(q, "#"), strings.HasPrefix(q, "-- "), strings.HasPrefix(q, "--\t"), q == "--":
			end := strings.IndexByte(q, '\n')
			if end < 0 {
				return ""
			}
			q = q[end+1:]
			continue
		}
		break
	}
	return strings.ToUpper(strings.Join(strings.Fields(q), " "))
}

// SQLErrorSpec is a MySQL error as the client sees it.
type SQLErrorSpec struct {
	Code     int    `json:"code"`
	SQLState string `json:"sqlstate,omitempty"` // default HY000
	Message  string `json:"message"`
}

// FaultsPath is the per-host fault file.
func FaultsPath(home string) string { return filepath.Join(home, "etc", "obsim-faults.json") }

// WriteFaults replaces the fault file of the observer home. Writing the zero
// Faults switches every fault off.
func WriteFaults(home string, f Faults) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode faults: %w", err)
	}
	if err := writeFileAtomic(FaultsPath(home), b); err != nil {
		return fmt.Errorf("write faults: %w", err)
	}
	return nil
}

// ReadFaults reads the fault file; a missing file means no faults.
func ReadFaults(home string) (Faults, error) {
	return readJSONFile[Faults](FaultsPath(home), "faults")
}

// faultSource re-reads the fault file only when it changed, because some
// checks (refusing connections) run on every accepted connection.
type faultSource struct {
	home string
	log  func(msg string, args ...any)

	mu   sync.Mutex
	info os.FileInfo // of the file cur was read from
	cur  Faults
}

func (s *faultSource) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := os.Stat(FaultsPath(s.home))
	if err != nil {
		s.cur, s.info = Faults{}, nil
		return s.cur
	}
	// WriteFaults renames a new file into place, so a new inode, size or
	// mtime means new content.
	if s.info != nil && os.SameFile(s.info, st) && st.ModTime().Equal(s.info.ModTime()) && st.Size() == s.info.Size() {
		return s.cur
	}
	f, err := ReadFaults(s.home)
	if err == nil {
		f, err = f.withProfile()
	}
	if err != nil {
		// A half-edited or broken file must not take the server down; keep
		// the last good value and say why.
		s.log("ignoring unreadable fault file", "err", err)
		return s.cur
	}
	s.cur, s.info = f, st
	return s.cur
}
