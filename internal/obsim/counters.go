package obsim

import (
	"encoding/json"
	"path/filepath"
	"sync"
)

// Counters counts the cluster-changing statements this observer received, so
// tests can prove that an action ran exactly once. "Executed" counts every
// statement that reached the action (including ones that then failed, e.g.
// a second BOOTSTRAP); "OK" counts those that succeeded. Counters survive
// restarts of the observer: they are kept in CountersPath(home) and only a
// removal of that file resets them.
type Counters struct {
	Bootstrap    int `json:"bootstrap"`
	BootstrapOK  int `json:"bootstrap_ok"`
	AddServer    int `json:"add_server"`
	AddServerOK  int `json:"add_server_ok"`
	AlterUser    int `json:"alter_user"`
	AlterUserOK  int `json:"alter_user_ok"`
	CreateUser   int `json:"create_user"`
	CreateUserOK int `json:"create_user_ok"`
	Grant        int `json:"grant"`
	GrantOK      int `json:"grant_ok"`
}

// CountersPath is the per-host counter file, rewritten atomically after each
// counted statement.
func CountersPath(home string) string { return filepath.Join(home, "run", "obsim-counters.json") }

// ReadCounters reads the statement counters of the observer home; a missing
// file means nothing was counted yet.
func ReadCounters(home string) (Counters, error) {
	return readJSONFile[Counters](CountersPath(home), "counters")
}

// stmtKind names the counted statement kinds.
type stmtKind int

const (
	kindBootstrap stmtKind = iota
	kindAddServer
	kindAlterUser
	kindCreateUser
	kindGrant
)

type counterStore struct {
	home string
	mu   sync.Mutex
	c    Counters
}

func openCounters(home string) (*counterStore, error) {
	c, err := ReadCounters(home)
	if err != nil {
		return nil, err
	}
	return &counterStore{home: home, c: c}, nil
}

func (s *counterStore) snapshot() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// count records one statement of kind k; ok says whether it succeeded.
func (s *counterStore) count(k stmtKind, ok bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	inc := func(exec, succ *int) {
		*exec++
		if ok {
			*succ++
		}
	}
	switch k {
	case kindBootstrap:
		inc(&s.c.Bootstrap, &s.c.BootstrapOK)
	case kindAddServer:
		inc(&s.c.AddServer, &s.c.AddServerOK)
	case kindAlterUser:
		inc(&s.c.AlterUser, &s.c.AlterUserOK)
	case kindCreateUser:
		inc(&s.c.CreateUser, &s.c.CreateUserOK)
	case kindGrant:
		inc(&s.c.Grant, &s.c.GrantOK)
	}
	b, err := json.MarshalIndent(s.c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(CountersPath(s.home), b)
}
