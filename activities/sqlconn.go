package activities

import (
	"context"
	"database/sql"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Statement time limits. As in obshell, the observer bounds a statement,
// not the client: every session gets ob_query_timeout=60 s from the DSN, and
// the long statements (BOOTSTRAP, LOAD MODULE DATA) set 1000 s for their
// session first. The client sets no read or write timeout: a BOOTSTRAP of a
// three-zone cluster can take minutes, and a client deadline shorter than
// the server's would leave the statement running inside the server while the
// stage gives up on a dead connection. A stage that waits on a long statement
// heartbeats, so a dead worker is noticed by Temporal's heartbeat timeout;
// the activity's context (cancel, StartToClose) closes the connection; and a
// dead observer host is noticed by TCP keepalive (the driver enables it).
const (
	// defaultQueryTimeoutUS is obshell's ob_query_timeout for every session.
	defaultQueryTimeoutUS = 60_000_000
	// longQueryTimeoutUS is obshell's ob_query_timeout for BOOTSTRAP and LOAD
	// MODULE DATA ("SET SESSION ob_query_timeout=1000000000").
	longQueryTimeoutUS = 1_000_000_000
	// dialTimeout bounds one TCP connect; connectRoot retries connects.
	dialTimeout = 5 * time.Second
)

// observerDSN is obshell's connection to an observer: user root, no
// database unless given, DSN parameters
// charset=utf8mb4&loc=Local&parseTime=true&ob_query_timeout=60000000, no
// read or write timeout (see above). Parameters are interpolated
// client-side, so no statement is prepared on the server.
func observerDSN(addr, password, db string) *mysql.Config {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Passwd = password
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.DBName = db
	cfg.Loc = time.Local
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	cfg.Timeout = dialTimeout
	// The default collation is utf8mb4_general_ci, i.e. charset=utf8mb4.
	cfg.Params = map[string]string{"ob_query_timeout": strconv.Itoa(defaultQueryTimeoutUS)}
	return cfg
}

// setLongQueryTimeout gives the session of conn obshell's budget for a long
// statement.
func setLongQueryTimeout(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "SET SESSION ob_query_timeout="+strconv.Itoa(longQueryTimeoutUS))
	return err
}

// openObserver opens and pings one connection pool.
func openObserver(ctx context.Context, addr, password, db string) (*sql.DB, error) {
	connector, err := mysql.NewConnector(observerDSN(addr, password, db))
	if err != nil {
		return nil, err
	}
	pool := sql.OpenDB(connector)
	pool.SetMaxOpenConns(2)
	pool.SetConnMaxIdleTime(30 * time.Second)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// connectRoot logs in as root trying each candidate password in turn
// (e.g. the empty one of a fresh cluster, then the configured one a
// redelivery finds already set). Access denied moves to the next
// candidate; a connection error is retried every retryEvery until
// retryFor passes, because the observer may still be coming up. It
// returns the pool and the index of the password that worked.
func connectRoot(ctx context.Context, log *logbook, addr, db string, retryFor time.Duration, passwords ...string) (*sql.DB, int, error) {
	const retryEvery = 200 * time.Millisecond
	deadline := time.Now().Add(retryFor)
	for {
		var lastErr error
		denied := 0
		for i, pw := range passwords {
			pool, err := openObserver(ctx, addr, pw, db)
			if err == nil {
				return pool, i, nil
			}
			lastErr = err
			if isAccessDenied(err) {
				denied++
				continue
			}
			break
		}
		if denied == len(passwords) {
			return nil, -1, log.fail(ErrUserPasswordError, lastErr, "connect to %s as root: access denied", addr)
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, -1, log.sqlError(lastErr, "connect to "+addr)
		}
		select {
		case <-ctx.Done():
			return nil, -1, ctx.Err()
		case <-time.After(retryEvery):
		}
	}
}

// candidates lists the root passwords to try: the configured one first
// (distinct from empty), then the empty one.
func candidates(rootPassword string, configuredFirst bool) []string {
	if rootPassword == "" {
		return []string{""}
	}
	if configuredFirst {
		return []string{rootPassword, ""}
	}
	return []string{"", rootPassword}
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
