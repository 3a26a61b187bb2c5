package activities

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
)

// SyncAgent is "Synchronize agent from cluster", run on each host: connect
// to this host's observer as root with the root password, read this
// agent's row of ocs.all_agent (its identity) and the observer's system
// parameters (__all_virtual_sys_parameter_stat), as obshell's agents copy
// them into their local store. It only reads, so it is idempotent.
func (h *HostActivities) SyncAgent(ctx context.Context, in SyncAgentInput) (SyncAgentResult, error) {
	log := &logbook{}
	s := in.Server
	if err := h.checkHost(log, s.Host.Agent, s.Host.HomePath); err != nil {
		return SyncAgentResult{}, err
	}
	addr := hostPort(s.Host.Agent.IP, s.MySQLPort)
	log.Logf("connect to %s as root", addr)
	pool, _, err := connectRoot(ctx, log, addr, "ocs", h.connectTimeout(), in.RootPassword)
	if err != nil {
		return SyncAgentResult{}, err
	}
	defer pool.Close()

	log.Logf("sync agent data")
	var identity obcluster.Identity
	err = pool.QueryRowContext(ctx, "SELECT identity FROM ocs.all_agent WHERE ip = ? AND port = ?", s.Host.Agent.IP, s.Host.Agent.Port).Scan(&identity)
	if errors.Is(err, sql.ErrNoRows) {
		return SyncAgentResult{}, log.fail(ErrAgentNotExist, nil, "Server '%s' does not exist", s.Host.Agent)
	}
	if err != nil {
		return SyncAgentResult{}, log.sqlError(err, "read ocs.all_agent")
	}
	log.Logf("identity: %s", identity)

	log.Logf("migrate ob sys parameter")
	rows, err := pool.QueryContext(ctx, "SELECT * FROM oceanbase.__all_virtual_sys_parameter_stat")
	if err != nil {
		return SyncAgentResult{}, log.sqlError(err, "read __all_virtual_sys_parameter_stat")
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return SyncAgentResult{}, log.sqlError(err, "read __all_virtual_sys_parameter_stat")
	}
	log.Logf("%d sys parameters", n)
	return SyncAgentResult{Result: log.result(), Identity: identity}, nil
}

func (h *HostActivities) connectTimeout() time.Duration { return 15 * time.Second }
