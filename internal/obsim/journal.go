package obsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
)

// The engine keeps ordinary data in memory. To keep it across restarts, like
// a real server keeps its tables, every committed change made through this
// server's engine is appended to a journal in the data dir and replayed at
// start. A change counts once it is committed: autocommit statements at once,
// statements inside BEGIN/START TRANSACTION at COMMIT (dropped on ROLLBACK).
// DDL commits implicitly, as in MySQL.

func journalPath(dataDir string) string { return filepath.Join(dataDir, "obsim-sql.journal") }

type journalEntry struct {
	DB    string `json:"db,omitempty"`
	Query string `json:"q"`
}

type journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openJournal(dataDir string) (*journal, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(journalPath(dataDir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &journal{path: journalPath(dataDir), f: f}, nil
}

func (j *journal) append(entries ...journalEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var sb strings.Builder
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	// One write per commit, so a crash never leaves half a transaction.
	_, err := j.f.WriteString(sb.String())
	return err
}

func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.f.Close()
}

// replayJournal runs the journal through a fresh engine session. A statement
// that fails is logged and skipped: one bad line must not lose the rest.
func replayJournal(ctx context.Context, dataDir string, e *sqle.Engine, pro *memory.DbProvider, logf func(string, ...any)) (int, error) {
	f, err := os.Open(journalPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sess := memory.NewSession(sql.NewBaseSession(), pro)
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var ent journalEntry
		if err := json.Unmarshal(sc.Bytes(), &ent); err != nil {
			logf("journal: skipping a corrupt line", "err", err)
			continue
		}
		sctx := sql.NewContext(ctx, sql.WithSession(sess))
		sctx.SetCurrentDatabase(ent.DB)
		_, iter, _, err := e.Query(sctx, ent.Query)
		if err == nil {
			_, err = sql.RowIterToRows(sctx, iter)
		}
		if err != nil {
			logf("journal: statement failed on replay", "query", ent.Query, "err", err)
			continue
		}
		n++
	}
	return n, sc.Err()
}

// connJournal is one connection's view: its current database and the
// changes of its open transaction.
type connJournal struct {
	db      string
	inTx    bool
	pending []journalEntry
}

// stmtClass sorts statements by what they mean for the journal.
type stmtClass int

const (
	classRead stmtClass = iota
	classWrite
	classDDL
	classBegin
	classCommit
	classRollback
	classUse
)

func classifyForJournal(query string) (stmtClass, string) {
	toks := lex(query)
	if len(toks) == 0 || toks[0].kind != 'w' {
		return classRead, ""
	}
	switch strings.ToUpper(toks[0].text) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		return classWrite, ""
	case "CREATE", "DROP", "ALTER", "TRUNCATE", "RENAME":
		return classDDL, ""
	case "BEGIN":
		return classBegin, ""
	case "START":
		if len(toks) > 1 && toks[1].is("TRANSACTION") {
			return classBegin, ""
		}
	case "COMMIT":
		return classCommit, ""
	case "ROLLBACK":
		if len(toks) > 1 && toks[1].is("TO") {
			return classRead, "" // to a savepoint: the transaction goes on
		}
		return classRollback, ""
	case "USE":
		if len(toks) > 1 && (toks[1].kind == 'w' || toks[1].kind == 'b') {
			return classUse, toks[1].text
		}
	}
	return classRead, ""
}

// recordExecuted notes a statement that the local engine ran successfully.
func (s *Server) recordExecuted(connID uint32, query string) {
	if s.journal == nil {
		return
	}
	v, _ := s.connJournals.LoadOrStore(connID, &connJournal{})
	cj := v.(*connJournal)
	class, db := classifyForJournal(query)
	var flush []journalEntry
	switch class {
	case classUse:
		cj.db = db
	case classBegin:
		flush, cj.pending, cj.inTx = cj.pending, nil, true
	case classCommit:
		flush, cj.pending, cj.inTx = cj.pending, nil, false
	case classRollback:
		cj.pending, cj.inTx = nil, false
	case classDDL:
		flush = append(cj.pending, journalEntry{DB: cj.db, Query: query})
		cj.pending, cj.inTx = nil, false
	case classWrite:
		e := journalEntry{DB: cj.db, Query: query}
		if cj.inTx {
			cj.pending = append(cj.pending, e)
		} else {
			flush = []journalEntry{e}
		}
	}
	if err := s.journal.append(flush...); err != nil {
		s.log.Error("journal append", "err", err)
	}
}

func (s *Server) setConnDB(connID uint32, db string) {
	v, _ := s.connJournals.LoadOrStore(connID, &connJournal{})
	v.(*connJournal).db = db
}
