package obsim

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// obHandler sees every statement before the engine's parser does. It answers
// OceanBase statements from the cluster state, rewrites the few that only
// differ in syntax, and on members other than the leader forwards ordinary
// SQL to the leader so all servers share one set of user tables.
type obHandler struct {
	inner mysql.Handler
	s     *Server
}

var _ mysql.Handler = (*obHandler)(nil)

func (h *obHandler) NewConnection(c *mysql.Conn) { h.inner.NewConnection(c) }

func (h *obHandler) ConnectionClosed(c *mysql.Conn) {
	if b, ok := h.s.backends.LoadAndDelete(c.ConnectionID); ok {
		b.(*backend).close()
	}
	// An open transaction ends uncommitted with its connection.
	h.s.connJournals.Delete(c.ConnectionID)
	h.inner.ConnectionClosed(c)
}

func (h *obHandler) ConnectionAborted(c *mysql.Conn, reason string) error {
	return h.inner.ConnectionAborted(c, reason)
}

func (h *obHandler) WarningCount(c *mysql.Conn) uint16 { return h.inner.WarningCount(c) }

func (h *obHandler) ComResetConnection(c *mysql.Conn) error {
	if b, ok := h.s.backends.LoadAndDelete(c.ConnectionID); ok {
		b.(*backend).close()
	}
	h.s.connJournals.Delete(c.ConnectionID)
	// The engine's handler assumes a session exists, which it creates only
	// with the first statement; a reset sent before any statement would
	// dereference nil. A discarded SELECT creates the session first.
	discard := func(*sqltypes.Result, bool) error { return nil }
	if err := h.inner.ComQuery(context.Background(), c, "SELECT 1", discard); err != nil {
		return err
	}
	return h.inner.ComResetConnection(c)
}

func (h *obHandler) ParserOptionsForConnection(c *mysql.Conn) (sqlparser.ParserOptions, error) {
	return h.inner.ParserOptionsForConnection(c)
}

func (h *obHandler) ComInitDB(c *mysql.Conn, db string) error {
	if h.s.forwarding() {
		if _, err := h.forward(context.Background(), c, "USE `"+strings.ReplaceAll(db, "`", "``")+"`"); err != nil {
			return err
		}
		// Statements answered locally (views) need the same current
		// database when it exists here (oceanbase, information_schema).
		_ = h.inner.ComInitDB(c, db)
		return nil
	}
	if err := h.inner.ComInitDB(c, db); err != nil {
		return err
	}
	h.s.setConnDB(c.ConnectionID, db)
	return nil
}

func (h *obHandler) ComQuery(ctx context.Context, c *mysql.Conn, query string, cb mysql.ResultSpoolFn) error {
	return h.handle(ctx, c, query, cb, func(q string) error { return h.inner.ComQuery(ctx, c, q, cb) })
}

// ComMultiQuery handles the first statement of a multi-statement query; the
// protocol layer calls it again with the remainder.
func (h *obHandler) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, cb mysql.ResultSpoolFn) (string, error) {
	first, rest, err := sqlparser.SplitStatement(query)
	if err != nil {
		first, rest = query, ""
	}
	more := rest != ""
	spool := func(res *sqltypes.Result, m bool) error { return cb(res, m || more) }
	return rest, h.handle(ctx, c, first, spool, func(q string) error { return h.inner.ComQuery(ctx, c, q, spool) })
}

func (h *obHandler) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	orig := psOriginal(query)
	st, err := Classify(orig)
	if err != nil {
		return nil, err
	}
	if st.Kind != StmtEngine || (h.s.forwarding() && !st.Local) {
		// Answered by the simulator or the leader at execute time; the
		// client learns the columns from the result.
		return nil, nil
	}
	return h.inner.ComPrepare(ctx, c, query, prepare)
}

func (h *obHandler) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, cb func(*sqltypes.Result) error) error {
	orig := psOriginal(prepare.PrepareStmt)
	st, err := Classify(orig)
	if err != nil {
		return err
	}
	if st.Kind == StmtEngine && !(h.s.forwarding() && !st.Local) && orig == prepare.PrepareStmt {
		if err := h.s.holdStatement(ctx, c, orig); err != nil {
			return err
		}
		if err := h.s.checkBootstrapTables(st); err != nil {
			return err
		}
		if err := h.inner.ComStmtExecute(ctx, c, prepare, cb); err != nil {
			return err
		}
		if class, _ := classifyForJournal(orig); class != classRead {
			text, err := bindQuery(orig, prepare)
			if err != nil {
				h.s.log.Error("journal: cannot render prepared statement", "query", orig, "err", err)
				return nil
			}
			h.s.recordExecuted(c.ConnectionID, text)
		}
		return nil
	}
	text, err := bindQuery(orig, prepare)
	if err != nil {
		return err
	}
	spool := func(res *sqltypes.Result, _ bool) error { return cb(res) }
	// With its values bound, the statement runs as text; the protocol layer
	// encodes the result rows for the binary protocol from their fields.
	return h.handle(ctx, c, text, spool, func(q string) error { return h.inner.ComQuery(ctx, c, q, spool) })
}

// bindQuery renders a prepared statement with its bound values as text.
func bindQuery(query string, prepare *mysql.PrepareData) (string, error) {
	if prepare.ParamsCount == 0 {
		return query, nil
	}
	stmt, err := sqlparser.Parse(query)
	if err != nil {
		return "", err
	}
	return sqlparser.NewParsedQuery(stmt).GenerateQuery(prepare.BindVars, nil)
}

// handle runs one statement. engine runs a query on the local engine.
func (h *obHandler) handle(ctx context.Context, c *mysql.Conn, query string, cb mysql.ResultSpoolFn, engine func(string) error) error {
	s := h.s
	if err := s.holdStatement(ctx, c, query); err != nil {
		return err
	}
	st, err := Classify(query)
	if err != nil {
		return err
	}
	if err := s.checkBootstrapTables(st); err != nil {
		return err
	}
	ok := func() error { return cb(&sqltypes.Result{}, false) }
	switch st.Kind {
	case StmtBootstrap:
		if err := s.bootstrap(ctx, st.RSList); err != nil {
			return err
		}
		return ok()
	case StmtAddServer:
		for _, srv := range st.Servers {
			err := s.mutate(ctx, mutation{Op: "add_server", Server: srv, Zone: st.Zone})
			s.count(kindAddServer, err == nil)
			if err != nil {
				return err
			}
		}
		return ok()
	case StmtAlterUser:
		err := s.mutate(ctx, mutation{Op: "alter_user", User: st.Users[0], Hash: nativeHash(st.Password)})
		s.count(kindAlterUser, err == nil)
		if err != nil {
			return err
		}
		return ok()
	case StmtCreateUser:
		for _, u := range st.Users {
			err := s.mutate(ctx, mutation{Op: "create_user", User: u, Hash: nativeHash(st.Password), IfNotExists: st.IfNotExists})
			s.count(kindCreateUser, err == nil)
			if err != nil {
				return err
			}
		}
		return ok()
	case StmtGrant:
		for _, u := range st.Users {
			err := s.mutate(ctx, mutation{Op: "grant", User: u, Grant: st.Grant})
			s.count(kindGrant, err == nil)
			if err != nil {
				return err
			}
		}
		return ok()
	case StmtLoadModule:
		if !s.stateSnapshot().Bootstrapped {
			return errNotBootstrapped()
		}
		if strings.EqualFold(st.Module, "timezone") {
			if err := h.loadTimeZone(ctx, c, st.Infile); err != nil {
				return err
			}
		}
		return ok()
	case StmtUnsupported:
		return errNotSupported(st.What)
	case StmtRewrite:
		query = st.Rewritten
	}
	if s.forwarding() && !st.Local {
		res, err := h.forward(ctx, c, query)
		if err != nil {
			return err
		}
		return cb(res, false)
	}
	if err := engine(query); err != nil {
		return err
	}
	s.recordExecuted(c.ConnectionID, query)
	return nil
}

// checkBootstrapTables fails a statement that names a cluster view or a
// system table before the cluster is bootstrapped, as OceanBase does.
func (s *Server) checkBootstrapTables(st Statement) error {
	if len(st.ClusterViews)+len(st.SysTables) == 0 || s.stateSnapshot().Bootstrapped {
		return nil
	}
	if len(st.ClusterViews) > 0 {
		return errNoSuchTable(st.ClusterViews[0])
	}
	return errNoSuchTable(st.SysTables[0])
}

// loadTimeZone is LOAD MODULE DATA module=timezone: the time zone file
// (infile, relative to the home like the observer's working directory;
// etc/timezone_V1.log by default) goes into the time zone tables, by the
// same statements import_time_zone_info.py runs, in this client's session
// (on the leader, where the tables' rows live).
func (h *obHandler) loadTimeZone(ctx context.Context, c *mysql.Conn, infile string) error {
	path := filepath.Join(h.s.home, "etc", TimeZoneFile)
	if infile != "" {
		path = infile
		if !filepath.IsAbs(path) {
			path = filepath.Join(h.s.home, path)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return errFileNotExist(path)
	}
	script, err := parseTimeZoneFile(f)
	f.Close()
	if err != nil {
		return sqlErr(errCodeInvalidArgument, "Invalid argument, %s: %v", path, err)
	}
	discard := func(*sqltypes.Result, bool) error { return nil }
	for _, q := range script.stmts {
		if st, err := Classify(q); err == nil && st.Kind == StmtRewrite {
			q = st.Rewritten
		}
		if h.s.forwarding() {
			if _, err := h.forward(ctx, c, q); err != nil {
				return err
			}
			continue
		}
		if err := h.inner.ComQuery(ctx, c, q, discard); err != nil {
			return err
		}
		h.s.recordExecuted(c.ConnectionID, q)
	}
	h.s.log.Info("time zone data loaded", "file", path, "statements", len(script.stmts))
	return nil
}

// forwarding says whether ordinary SQL on this server goes to the leader.
func (s *Server) forwarding() bool {
	st := s.stateSnapshot()
	return st.Bootstrapped && st.Leader != s.selfAddr()
}

// backend is one client connection's session on the leader.
type backend struct {
	mu   sync.Mutex
	conn *mysql.Conn
	db   string // current database, restored on reconnect
	inTx bool
}

func (b *backend) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		b.conn.Close()
		b.conn = nil
	}
}

// forward runs query on the leader in this client connection's own session
// there, so transactions and session variables behave as on one server.
// A leader connection that died while idle (the leader restarted) is
// replaced before use, unless a transaction was open on it: then the client
// must see the failure, as it would on a real server.
func (h *obHandler) forward(ctx context.Context, c *mysql.Conn, query string) (*sqltypes.Result, error) {
	v, _ := h.s.backends.LoadOrStore(c.ConnectionID, &backend{})
	b := v.(*backend)
	b.mu.Lock()
	defer b.mu.Unlock()
	st := h.s.stateSnapshot()
	leader, ok := st.leaderInfo()
	if !ok {
		return nil, errLeaderUnavailable(st.Leader, errors.New("leader unknown"))
	}
	class, db := classifyForJournal(query)
	for attempt := 0; ; attempt++ {
		if b.conn != nil && !b.inTx && !connAlive(b.conn.Conn) {
			b.conn.Close()
			b.conn = nil
		}
		if b.conn == nil {
			if b.inTx {
				b.inTx = false
				return nil, mysql.NewSQLError(mysql.CRServerLost, mysql.SSUnknownSQLState, "lost connection to leader %s during a transaction", leader.Addr())
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			conn, err := mysql.Connect(cctx, &mysql.ConnParams{
				Host: leader.IP, Port: leader.SQLPort, Uname: internalUser, Pass: st.InternalSecret,
				DbName: b.db, Charset: "utf8mb4",
			})
			cancel()
			if err != nil {
				return nil, errLeaderUnavailable(leader.Addr(), err)
			}
			b.conn = conn
		}
		res, err := b.conn.ExecuteFetch(query, 1<<24, true)
		if err == nil {
			switch class {
			case classBegin:
				b.inTx = true
			case classCommit, classRollback, classDDL:
				b.inTx = false
			case classUse:
				b.db = db
			}
			return res, nil
		}
		// Errors the leader sent are the statement's result; client-side
		// errors (CR_*, 2000-2999) mean the connection to it broke.
		var se *mysql.SQLError
		if errors.As(err, &se) && (se.Num < 2000 || se.Num >= 3000) {
			return nil, se
		}
		wasInTx := b.inTx
		b.conn.Close()
		b.conn = nil
		b.inTx = false
		// A read outside a transaction can safely run again on a new
		// connection (the leader may have died between the liveness check
		// and the statement); a write might have been applied already.
		if attempt == 0 && !wasInTx && (class == classRead || class == classUse) {
			continue
		}
		return nil, mysql.NewSQLError(mysql.CRServerLost, mysql.SSUnknownSQLState, "lost connection to leader %s: %v", leader.Addr(), err)
	}
}

// connAlive peeks at an idle connection without blocking: a closed peer
// shows as EOF, a live idle one as "would block".
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = raw.Read(func(fd uintptr) bool {
		var buf [1]byte
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Only "nothing to read" is alive: EOF (no error, no bytes) means
		// the peer closed, and unread bytes on an idle connection are as
		// wrong as EOF.
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && alive
}
