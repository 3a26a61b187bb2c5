package obsim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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
	if err != nil {
		// A half-edited or broken file must not take the server down; keep
		// the last good value and say why.
		s.log("ignoring unreadable fault file", "err", err)
		return s.cur
	}
	s.cur, s.info = f, st
	return s.cur
}
