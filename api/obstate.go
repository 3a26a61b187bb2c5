package api

import (
	"context"
	"database/sql"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/workflows"
)

// obStateTTL is how long a probe result is reused: status is polled, and
// each probe opens a MySQL connection.
const obStateTTL = time.Second

// obStateProbe computes /api/v1/status's obState (CONTRACT.md §3.3): 0 when
// nothing listens on the observer's MySQL port, 1 when it listens but no
// login works, 2 when only SELECT 1 works, 3 when SHOW DATABASES works.
type obStateProbe struct {
	s *Server

	mu      sync.Mutex
	at      time.Time
	state   int
	sqlPort int
}

func newOBStateProbe(s *Server) *obStateProbe { return &obStateProbe{s: s} }

func (p *obStateProbe) get(ctx context.Context) (state, sqlPort int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) < obStateTTL {
		return p.state, p.sqlPort
	}
	st := p.s.reg.snapshot()
	port := mysqlPort(st, p.s.self.String())
	p.state = probe(ctx, p.s.cfg.IP, port, st.RootPassword)
	p.sqlPort = 0
	if p.state > obshell.OBStateProcessNotExist {
		p.sqlPort = port
	}
	p.at = time.Now()
	return p.state, p.sqlPort
}

// mysqlPort is the observer's mysql_port as configured for this agent
// (server scope, then zone, then global), else obshell's default.
func mysqlPort(st *workflows.RegistryState, self string) int {
	rec, _ := st.Agent(self)
	for _, m := range []map[string]obcluster.ConfigValue{st.Observer.Server[self], st.Observer.Zone[rec.Zone], st.Observer.Global} {
		if v, ok := m["mysql_port"]; ok {
			if n, err := strconv.Atoi(v.Value); err == nil && n > 0 && n <= 65535 {
				return n
			}
		}
	}
	return obcluster.DefaultMySQLPort
}

func probe(ctx context.Context, ip string, port int, password string) int {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return obshell.OBStateProcessNotExist
	}
	_ = conn.Close()

	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "root@sys", password, "tcp", addr
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = time.Second, time.Second, time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return obshell.OBStateNoConnection
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := db.QueryContext(qctx, "SHOW DATABASES")
	if err == nil {
		_ = rows.Close()
		return obshell.OBStateAvailable
	}
	var one int
	if db.QueryRowContext(qctx, "SELECT 1").Scan(&one) == nil {
		return obshell.OBStateRestricted
	}
	return obshell.OBStateNoConnection
}
