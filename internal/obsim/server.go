package obsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	gmsserver "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/go-mysql-server/sql/variables"
	"github.com/dolthub/vitess/go/mysql"
)

// DefaultVersion is the OceanBase version the simulator reports unless the
// fault file says otherwise.
const DefaultVersion = "4.2.1.0"

// Server is one simulated observer: a MySQL listener on -p, the cluster rpc
// listener on -P, the SQL engine for ordinary statements, and this server's
// copy of the cluster state.
type Server struct {
	home     string
	opts     Options
	log      *slog.Logger
	faults   *faultSource
	counters *counterStore
	rpc      *rpcClient

	mu    sync.Mutex // guards state and bootstrapping; also serialises leader mutations
	state *ClusterState
	// bootstrapping is set while a BOOTSTRAP runs on this server: the
	// server is no longer empty, so a second BOOTSTRAP fails at once.
	bootstrapping bool

	ready     atomic.Bool
	startTime int64
	version   atomic.Value // string: the version the session variables carry

	engine   *sqle.Engine
	mysqlSrv *gmsserver.Server
	httpSrv  *http.Server
	sqlLn    net.Listener
	rpcLn    net.Listener

	backends sync.Map // connection id -> *backend

	journal      *journal
	connJournals sync.Map // connection id -> *connJournal
}

// NewServer prepares a server for home with the effective options; it does
// not bind anything yet.
func NewServer(home string, opts Options, log *slog.Logger) (*Server, error) {
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(home, "store")
	}
	st, err := loadState(opts.DataDir)
	if err != nil {
		return nil, err
	}
	counters, err := openCounters(home)
	if err != nil {
		return nil, err
	}
	s := &Server{
		home:      home,
		opts:      opts,
		log:       log,
		counters:  counters,
		rpc:       newRPCClient(),
		state:     st,
		startTime: nowMicros(),
	}
	s.faults = &faultSource{home: home, log: func(msg string, args ...any) { log.Warn(msg, args...) }}
	return s, nil
}

func (s *Server) selfAddr() string { return joinHostPort(s.opts.LocalIP, s.opts.RPCPort) }

// Listen binds both ports. It is separate from Serve so that the launching
// process can report a busy port before it returns.
func (s *Server) Listen() error {
	sqlLn, err := net.Listen("tcp", joinHostPort(s.opts.LocalIP, s.opts.MySQLPort))
	if err != nil {
		return fmt.Errorf("listen mysql port: %w", err)
	}
	rpcLn, err := net.Listen("tcp", s.selfAddr())
	if err != nil {
		sqlLn.Close()
		return fmt.Errorf("listen rpc port: %w", err)
	}
	s.sqlLn, s.rpcLn = sqlLn, rpcLn
	return nil
}

// Serve starts answering on both ports. MySQL connections are closed until
// MarkReady is called.
func (s *Server) Serve() error {
	s.registerSystemVariables()
	s.applyVersion()

	pro := memory.NewDBProvider(newOBDatabase(s))
	s.engine = sqle.NewDefault(pro)
	s.engine.Analyzer.Catalog.RegisterFunction(sql.NewEmptyContext(), sql.Function0{
		Name: "ob_version",
		Fn:   func() sql.Expression { return &obVersionFunc{s: s} },
	})
	n, err := replayJournal(context.Background(), s.opts.DataDir, s.engine, pro, func(msg string, args ...any) { s.log.Warn(msg, args...) })
	if err != nil {
		return fmt.Errorf("replay journal: %w", err)
	}
	if n > 0 {
		s.log.Info("replayed the SQL journal", "statements", n)
	}
	if s.journal, err = openJournal(s.opts.DataDir); err != nil {
		return err
	}

	cfg := gmsserver.Config{
		Protocol: "tcp",
		Address:  s.sqlLn.Addr().String(),
		Listener: &sqlListener{Listener: s.sqlLn, admit: s.admitConnection},
		Version:  mysqlVersion(s.obVersion()),
		ProtocolListenerFactory: func(cfg gmsserver.Config, lc mysql.ListenerConfig, _ gmsserver.ServerEventListener) (gmsserver.ProtocolListener, error) {
			lc.AuthServer = newAuthServer(s)
			l, err := mysql.NewListenerWithConfig(lc)
			if err != nil {
				return nil, err
			}
			l.ServerVersion = cfg.Version
			return l, nil
		},
	}
	srv, err := gmsserver.NewServerWithHandler(cfg, s.engine, sql.NewContext, memory.NewSessionBuilder(pro), nil,
		func(h mysql.Handler) (mysql.Handler, error) { return &obHandler{inner: h, s: s}, nil })
	if err != nil {
		return fmt.Errorf("mysql server: %w", err)
	}
	s.mysqlSrv = srv
	go func() { _ = srv.Start() }()

	s.httpSrv = &http.Server{Handler: s.rpcHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.httpSrv.Serve(s.rpcLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("rpc server stopped", "err", err)
		}
	}()
	return nil
}

// CatchUp fetches the cluster state from the leader after a restart, so a
// member that was down while the cluster changed does not answer with a
// stale view. A leader that cannot be reached is not fatal: the member keeps
// its saved state and the leader pushes the next change to it.
func (s *Server) CatchUp(ctx context.Context) {
	st := s.stateSnapshot()
	if !st.Bootstrapped || st.Leader == s.selfAddr() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	remote, err := s.rpc.getState(ctx, st.Leader)
	if err != nil {
		s.log.Warn("could not catch up with the leader", "leader", st.Leader, "err", err)
		return
	}
	if err := s.adoptState(remote); err != nil {
		s.log.Warn("leader state not adopted", "err", err)
	}
}

// MarkReady creates the block file and starts admitting SQL connections.
func (s *Server) MarkReady() error {
	dir := filepath.Join(s.opts.DataDir, "sstable")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create sstable dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "block_file"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create block_file: %w", err)
	}
	f.Close()
	s.ready.Store(true)
	s.log.Info("observer is ready", "mysql", joinHostPort(s.opts.LocalIP, s.opts.MySQLPort), "rpc", s.selfAddr())
	return nil
}

// Close stops both listeners and every open connection.
func (s *Server) Close() {
	s.ready.Store(false)
	if s.mysqlSrv != nil {
		_ = s.mysqlSrv.Close()
	} else if s.sqlLn != nil {
		s.sqlLn.Close()
	}
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.httpSrv.Shutdown(ctx)
		cancel()
	} else if s.rpcLn != nil {
		s.rpcLn.Close()
	}
	s.backends.Range(func(k, v any) bool {
		v.(*backend).close()
		return true
	})
	if s.journal != nil {
		s.journal.close()
	}
}

func (s *Server) admitConnection() bool {
	if !s.ready.Load() {
		return false
	}
	f := s.faults.get()
	if f.RefuseConnections {
		return false
	}
	s.applyVersion()
	return true
}

func (s *Server) obVersion() string {
	if v := s.faults.get().Version; v != "" {
		return v
	}
	return DefaultVersion
}

func mysqlVersion(ob string) string { return "5.7.25-OceanBase_CE-v" + ob }

// applyVersion puts the current version into the global system variables
// that VERSION() and SHOW VARIABLES read; new sessions pick them up.
func (s *Server) applyVersion() {
	v := s.obVersion()
	if old, _ := s.version.Load().(string); old == v {
		return
	}
	s.version.Store(v)
	err := sql.SystemVariables.AssignValues(map[string]any{
		"version":         mysqlVersion(v),
		"version_comment": fmt.Sprintf("OceanBase_CE %s (r1-obsim) (Built by obflow's simulator)", v),
	})
	if err != nil {
		s.log.Warn("set version variables", "err", err)
	}
}

// registerSystemVariables adds OceanBase's session variables that clients
// set, so that "SET ob_query_timeout=..." (also sent by go-sql-driver for a
// DSN parameter) and "SELECT @@ob_query_timeout" work through the engine.
func (s *Server) registerSystemVariables() {
	both := sql.GetMysqlScope(sql.SystemVariableScope_Both)
	intVar := func(name string, def int64) sql.SystemVariable {
		return &sql.MysqlSystemVariable{Name: name, Scope: both, Dynamic: true,
			Type: types.NewSystemIntType(name, -1, 1<<62, false), Default: def}
	}
	strVar := func(name, def string) sql.SystemVariable {
		return &sql.MysqlSystemVariable{Name: name, Scope: both, Dynamic: true,
			Type: types.NewSystemStringType(name), Default: def}
	}
	variables.InitSystemVariables()
	sql.SystemVariables.AddSystemVariables([]sql.SystemVariable{
		intVar("ob_query_timeout", 10000000),
		intVar("ob_trx_timeout", 86400000000),
		intVar("ob_trx_idle_timeout", 86400000000),
		intVar("ob_trx_lock_timeout", -1),
		intVar("ob_sql_work_area_percentage", 5),
		intVar("ob_read_consistency", 3),
		intVar("ob_max_read_stale_time", 5000000),
		intVar("ob_pl_block_timeout", 3216672000000000),
		intVar("ob_compatibility_mode", 0),
		intVar("ob_enable_plan_cache", 1),
		intVar("ob_enable_trace_log", 0),
		intVar("ob_log_level", 0),
		strVar("ob_org_cluster_id", ""),
		strVar("ob_route_policy", "READONLY_ZONE_FIRST"),
		strVar("ob_tcp_invited_nodes", "%"),
		strVar("ob_default_replica_num", "1"),
	})
}

// obVersionFunc implements ob_version().
type obVersionFunc struct{ s *Server }

var _ sql.FunctionExpression = (*obVersionFunc)(nil)

func (f *obVersionFunc) FunctionName() string       { return "ob_version" }
func (f *obVersionFunc) Description() string        { return "returns the OceanBase version" }
func (f *obVersionFunc) Resolved() bool             { return true }
func (f *obVersionFunc) String() string             { return "ob_version()" }
func (f *obVersionFunc) Type() sql.Type             { return types.LongText }
func (f *obVersionFunc) IsNullable() bool           { return false }
func (f *obVersionFunc) Children() []sql.Expression { return nil }
func (f *obVersionFunc) Eval(*sql.Context, sql.Row) (any, error) {
	return f.s.obVersion(), nil
}
func (f *obVersionFunc) WithChildren(children ...sql.Expression) (sql.Expression, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(f, len(children), 0)
	}
	return f, nil
}

// hello is this server's answer to "who are you".
func (s *Server) hello() hello { return s.helloFor(s.stateSnapshot()) }

// helloFor builds the answer from st; callers holding s.mu use it directly.
func (s *Server) helloFor(st *ClusterState) hello {
	return hello{
		IP: s.opts.LocalIP, RPCPort: s.opts.RPCPort, SQLPort: s.opts.MySQLPort, Zone: s.opts.Zone,
		ClusterName: s.opts.ClusterName, ClusterID: s.opts.ClusterID, Ready: s.ready.Load(),
		StartTime: s.startTime, Bootstrapped: st.Bootstrapped, Revision: st.Revision,
		Version: s.obVersion(), Params: s.opts.Params,
	}
}

func (s *Server) stateSnapshot() *ClusterState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// setState installs st (which must not be modified afterwards) and saves it.
// Callers hold s.mu.
func (s *Server) setStateLocked(st *ClusterState) error {
	if err := saveState(s.opts.DataDir, st); err != nil {
		return fmt.Errorf("save cluster state: %w", err)
	}
	s.state = st
	return nil
}

// adoptState accepts a state pushed by the leader (or fetched from it) if it
// is newer than ours and names this server as a member.
func (s *Server) adoptState(st *ClusterState) error {
	if !st.Bootstrapped {
		return errors.New("state is not bootstrapped")
	}
	if _, ok := st.server(s.selfAddr()); !ok {
		return fmt.Errorf("%s is not a member of cluster %s", s.selfAddr(), st.ClusterName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.state
	if cur.Bootstrapped && (cur.Leader != st.Leader || cur.BootstrapTime != st.BootstrapTime) {
		return fmt.Errorf("%s already belongs to another bootstrapped cluster (leader %s)", s.selfAddr(), cur.Leader)
	}
	if cur.Bootstrapped && st.Revision <= cur.Revision {
		return nil
	}
	return s.setStateLocked(st)
}

func newSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
