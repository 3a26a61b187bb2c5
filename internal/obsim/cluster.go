package obsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/dolthub/vitess/go/mysql"
)

// bootstrap runs ALTER SYSTEM BOOTSTRAP on this server: every named server
// must be a running, ready simulator of this cluster in the named zone, and
// none may be bootstrapped already. The first named server becomes the
// leader (it has the root service and holds the ordinary SQL data).
//
// Like OceanBase's, it first checks that this server is empty: one that is
// bootstrapped, or is being bootstrapped by another BOOTSTRAP, answers 4015
// at once. The bootstrap then takes its time (bootstrap_delay_ms) and goes
// on when the client disconnects, as OceanBase's root service does.
func (s *Server) bootstrap(ctx context.Context, rs []ZoneServer) (err error) {
	defer func() { s.count(kindBootstrap, err == nil) }()

	s.mu.Lock()
	if s.state.Bootstrapped || s.bootstrapping {
		s.mu.Unlock()
		return errBootstrapTwice()
	}
	s.bootstrapping = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.bootstrapping = false
		s.mu.Unlock()
	}()

	f := s.faults.get()
	if f.BootstrapDelayMS > 0 {
		s.log.Info("fault: bootstrap takes its time", "delay_ms", f.BootstrapDelayMS)
		select {
		case <-time.After(time.Duration(f.BootstrapDelayMS) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		f = s.faults.get()
	}
	if e := f.BootstrapError; e != nil {
		state := e.SQLState
		if state == "" {
			state = ssGeneral
		}
		return mysql.NewSQLError(e.Code, state, "%s", e.Message)
	}

	// Hold the lock for the rest of the bootstrap so that nothing else
	// changes the state meanwhile.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Bootstrapped {
		return errBootstrapTwice()
	}

	seenZone := map[string]bool{}
	seenServer := map[string]bool{}
	now := nowMicros()
	st := &ClusterState{
		Revision:       1,
		Bootstrapped:   true,
		ClusterName:    s.opts.ClusterName,
		ClusterID:      s.opts.ClusterID,
		Users:          map[string]*User{"root": {}},
		InternalSecret: newSecret(),
		BootstrapTime:  now,
	}
	for _, item := range rs {
		addr, err := normalizeServer(item.Server)
		if err != nil {
			return err
		}
		if seenZone[item.Zone] {
			return errInvalidArgument("zone '%s' appears more than once in the rootservice list", item.Zone)
		}
		if seenServer[addr] {
			return errInvalidArgument("server %s appears more than once in the rootservice list", addr)
		}
		seenZone[item.Zone], seenServer[addr] = true, true

		var h hello
		if addr == s.selfAddr() {
			h = s.helloFor(s.state)
		} else {
			h, err = s.rpc.hello(ctx, addr)
			if err != nil {
				s.log.Warn("bootstrap: server unreachable", "server", addr, "err", err)
				return errServerUnreachable(addr)
			}
		}
		if err := checkCandidate(h, addr, item.Zone, s.opts); err != nil {
			return err
		}
		st.Zones = append(st.Zones, item.Zone)
		st.Servers = append(st.Servers, ServerInfo{
			IP: h.IP, RPCPort: h.RPCPort, SQLPort: h.SQLPort, Zone: item.Zone, WithRootserver: true,
			CreateTime: now, StartServiceTime: now, BuildVersion: buildVersion(h.Version), Params: h.Params,
		})
	}
	if len(st.Servers) == 0 {
		return errInvalidArgument("empty rootservice list")
	}
	st.Leader = st.Servers[0].Addr()

	for _, srv := range st.Servers {
		if srv.Addr() == s.selfAddr() {
			continue
		}
		if err := s.rpc.pushState(ctx, srv.Addr(), st); err != nil {
			s.log.Warn("bootstrap: push state failed", "server", srv.Addr(), "err", err)
			return errServerUnreachable(srv.Addr())
		}
	}
	if err := s.setStateLocked(st); err != nil {
		return err
	}
	s.log.Info("cluster bootstrapped", "leader", st.Leader, "servers", len(st.Servers))
	return nil
}

// checkCandidate applies the checks OceanBase makes before it takes a server
// into the cluster.
func checkCandidate(h hello, addr, zone string, self Options) error {
	if !h.Ready {
		return errServerNotReady(addr)
	}
	if h.Bootstrapped {
		return errBootstrapTwice()
	}
	if h.ClusterName != self.ClusterName || h.ClusterID != self.ClusterID {
		return errInvalidArgument("server %s belongs to cluster %s (id %s), not %s (id %s)",
			addr, h.ClusterName, h.ClusterID, self.ClusterName, self.ClusterID)
	}
	if h.Zone != zone {
		return errInvalidArgument("server %s is in zone '%s', not '%s'", addr, h.Zone, zone)
	}
	return nil
}

func buildVersion(v string) string { return v + "_1-obsim" }

// normalizeServer checks "ip:port" (or "[ipv6]:port") and returns it in the
// form ServerInfo.Addr uses.
func normalizeServer(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || net.ParseIP(host) == nil {
		return "", errInvalidArgument("invalid server address '%s'", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", errInvalidArgument("invalid server address '%s'", s)
	}
	return joinHostPort(host, p), nil
}

// mutate sends a change to the leader (or applies it when this server is the
// leader) and installs the resulting state.
func (s *Server) mutate(ctx context.Context, m mutation) error {
	st := s.stateSnapshot()
	if !st.Bootstrapped {
		return errNotBootstrapped()
	}
	if st.Leader == s.selfAddr() {
		_, err := s.applyAsLeader(ctx, m)
		return err
	}
	res, err := s.rpc.apply(ctx, st.Leader, m)
	if err != nil {
		return errLeaderUnavailable(st.Leader, err)
	}
	if res.Error != nil {
		return mysql.NewSQLError(res.Error.Code, res.Error.SQLState, "%s", res.Error.Message)
	}
	if res.State != nil {
		if err := s.adoptState(res.State); err != nil {
			s.log.Warn("state from leader not adopted", "err", err)
		}
	}
	return nil
}

// applyAsLeader applies m to the state, pushes the new state to every other
// member and only then saves it here, so that every reachable member knows
// the change before the client sees the statement succeed.
func (s *Server) applyAsLeader(ctx context.Context, m mutation) (*ClusterState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.state.Bootstrapped {
		return nil, errNotBootstrapped()
	}
	if s.state.Leader != s.selfAddr() {
		return nil, errLeaderUnavailable(s.state.Leader, errors.New("this server is not the leader"))
	}
	st := s.state.clone()
	switch m.Op {
	case "add_server":
		if err := s.addServerLocked(ctx, st, m.Server, m.Zone); err != nil {
			return nil, err
		}
	case "alter_user":
		u, ok := st.Users[m.User]
		if !ok {
			return nil, errUserNotExist("ALTER USER", m.User)
		}
		u.PasswordHash = m.Hash
	case "create_user":
		if _, ok := st.Users[m.User]; ok {
			if m.IfNotExists {
				return st, nil
			}
			return nil, errUserExists(m.User)
		}
		st.Users[m.User] = &User{PasswordHash: m.Hash}
	case "grant":
		u, ok := st.Users[m.User]
		if !ok {
			return nil, mysql.NewSQLError(1133, "42000", "Can't find any matching row in the user table")
		}
		u.Grants = append(u.Grants, m.Grant)
	default:
		return nil, fmt.Errorf("unknown mutation %q", m.Op)
	}
	st.Revision++
	for _, srv := range st.Servers {
		if srv.Addr() == s.selfAddr() {
			continue
		}
		if err := s.rpc.pushState(ctx, srv.Addr(), st); err != nil {
			if m.Op == "add_server" && srv.Addr() == m.Server {
				return nil, errServerUnreachable(m.Server)
			}
			// A member that is down catches up when it restarts.
			s.log.Warn("push state failed", "server", srv.Addr(), "err", err)
		}
	}
	if err := s.setStateLocked(st); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *Server) addServerLocked(ctx context.Context, st *ClusterState, server, zone string) error {
	addr, err := normalizeServer(server)
	if err != nil {
		return err
	}
	if zone == "" {
		return errInvalidArgument("zone must be specified for ADD SERVER")
	}
	if !st.hasZone(zone) {
		return errZoneNotExist(zone)
	}
	if _, ok := st.server(addr); ok {
		return errServerExists(addr)
	}
	h, err := s.rpc.hello(ctx, addr)
	if err != nil {
		s.log.Warn("add server: unreachable", "server", addr, "err", err)
		return errServerUnreachable(addr)
	}
	if err := checkCandidate(h, addr, zone, s.opts); err != nil {
		return err
	}
	now := nowMicros()
	st.Servers = append(st.Servers, ServerInfo{
		IP: h.IP, RPCPort: h.RPCPort, SQLPort: h.SQLPort, Zone: zone,
		CreateTime: now, StartServiceTime: now, BuildVersion: buildVersion(h.Version), Params: h.Params,
	})
	return nil
}

func (s *Server) count(k stmtKind, ok bool) {
	if err := s.counters.count(k, ok); err != nil {
		s.log.Error("write counters", "err", err)
	}
}
