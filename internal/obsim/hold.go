package obsim

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/dolthub/vitess/go/mysql"
)

// holdPoll is how often a held statement looks at the fault file and at its
// client connection.
const holdPoll = 100 * time.Millisecond

// errClientGone ends a held statement whose client closed the connection.
// Nobody reads the error: it only makes the protocol layer drop the
// connection, as it would anyway.
var errClientGone = errors.New("client closed the connection while its statement was held")

// holdStatement applies the statement faults to query before it takes
// effect: a statement_delays_ms hold, then a statement_errors error.
//
// The hold re-reads the fault file every holdPoll, so removing (or
// shortening) the entry releases statements already held. It ends early,
// and the statement never runs, when the client closes its connection or
// the server shuts down: a held statement has not started, and OceanBase
// does not run the statement of a session that is gone. A crash during the
// hold (crash_after_ms, SIGKILL) therefore leaves no trace of it either.
func (s *Server) holdStatement(ctx context.Context, c *mysql.Conn, query string) error {
	f := s.faults.get()
	if len(f.StatementDelaysMS) == 0 && len(f.StatementErrors) == 0 {
		return nil
	}
	norm := normalizeStatement(query)
	if d := f.statementDelay(norm); d > 0 {
		start := time.Now()
		s.log.Info("fault: holding statement", "conn", c.ConnectionID, "delay", d, "query", truncate(norm, 120))
		for {
			left := d - time.Since(start)
			if left <= 0 {
				break
			}
			t := time.NewTimer(min(left, holdPoll))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			if peerClosed(c.Conn) {
				s.log.Info("fault: held statement dropped, its client is gone", "conn", c.ConnectionID, "query", truncate(norm, 120))
				return errClientGone
			}
			f = s.faults.get()
			d = f.statementDelay(norm)
		}
		s.log.Info("fault: statement released", "conn", c.ConnectionID, "held", time.Since(start).Round(time.Millisecond))
	}
	if e := s.faults.get().statementError(norm); e != nil {
		state := e.SQLState
		if state == "" {
			state = ssGeneral
		}
		return mysql.NewSQLError(e.Code, state, "%s", e.Message)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// peerClosed reports whether the client of a server-side connection has
// closed it (or reset it), looking at the socket without blocking and
// without consuming anything: unread bytes (a pipelined next command) mean
// the client is still there.
func peerClosed(c net.Conn) bool {
	if p, ok := c.(interface{ peerClosed() bool }); ok {
		return p.peerClosed()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	err = raw.Read(func(fd uintptr) bool {
		var buf [1]byte
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil:
			closed = n == 0 // EOF
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
		default:
			closed = true
		}
		return true
	})
	return err != nil || closed
}

// peerClosed looks at the accepted socket under the rewriting reader.
func (c *psRewriteConn) peerClosed() bool { return peerClosed(c.Conn) }
