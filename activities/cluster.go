package activities

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
)

// Identities in ocs.all_agent.
const (
	IdentityMaster       = "MASTER"
	IdentityFollower     = "FOLLOWER"
	IdentityClusterAgent = "CLUSTER AGENT"
)

// ClusterActivities are the cluster-level stages. They run on the
// coordinator and reach the master's observer over MySQL at
// <master ip>:<mysql_port>.
type ClusterActivities struct {
	Logger *slog.Logger
	// ConnectTimeout bounds how long a stage waits for the observer to
	// accept connections before the attempt fails (and is retried).
	ConnectTimeout time.Duration
	// HeartbeatInterval is how often long statements heartbeat their logs.
	HeartbeatInterval time.Duration
}

// NewClusterActivities returns cluster activities with default settings.
func NewClusterActivities(logger *slog.Logger) *ClusterActivities {
	if logger == nil {
		logger = slog.Default()
	}
	return &ClusterActivities{
		Logger:            logger,
		ConnectTimeout:    15 * time.Second,
		HeartbeatInterval: 2 * time.Second,
	}
}

// Register registers the cluster-level activities under their obshell
// names, including the pure "Integrate config".
func (c *ClusterActivities) Register(r worker.ActivityRegistry) {
	for name, fn := range map[string]any{
		IntegrateConfigName:  IntegrateConfig,
		ClusterBootstrapName: c.ClusterBootstrap,
		MigrateTableName:     c.MigrateTable,
		ModifyPasswordName:   c.ModifyPassword,
		CreateUserName:       c.CreateUser,
		MigrateDataName:      c.MigrateData,
		ConvertFollowerName:  c.ConvertFollower,
		ConvertMasterName:    c.ConvertMaster,
		ImportScriptName:     c.ImportScript,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// masterPlan finds the master's server in the plan.
func masterPlan(log *logbook, in ClusterInput) (ServerPlan, error) {
	i := slices.IndexFunc(in.Plan.Servers, func(s ServerPlan) bool { return s.Host.Agent == in.Master })
	if i < 0 {
		return ServerPlan{}, log.fail(ErrAgentNotExist, nil, "Server '%s' does not exist", in.Master)
	}
	return in.Plan.Servers[i], nil
}

// connectMaster logs in to the master's observer; the passwords are tried
// in order (see candidates).
func (c *ClusterActivities) connectMaster(ctx context.Context, log *logbook, in ClusterInput, db string, configuredFirst bool) (*sql.DB, error) {
	m, err := masterPlan(log, in)
	if err != nil {
		return nil, err
	}
	addr := hostPort(m.Host.Agent.IP, m.MySQLPort)
	pool, _, err := connectRoot(ctx, log, addr, db, c.ConnectTimeout, candidates(in.RootPassword, configuredFirst)...)
	return pool, err
}

// obServer is a row of oceanbase.DBA_OB_SERVERS.
type obServer struct {
	Addr ServerAddr
	Zone string
}

// listServers reads oceanbase.DBA_OB_SERVERS. Before BOOTSTRAP the view is
// empty or unavailable; both mean "no server yet".
func listServers(ctx context.Context, q querier) ([]obServer, error) {
	rows, err := q.QueryContext(ctx, "SELECT SVR_IP, SVR_PORT, ZONE FROM oceanbase.DBA_OB_SERVERS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []obServer
	for rows.Next() {
		var s obServer
		if err := rows.Scan(&s.Addr.IP, &s.Addr.RPCPort, &s.Zone); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func hasServer(list []obServer, a ServerAddr) bool {
	return slices.ContainsFunc(list, func(s obServer) bool { return sameIP(s.Addr.IP, a.IP) && s.Addr.RPCPort == a.RPCPort })
}

// sqlAddr renders a server for SQL: 'ip:port', IPv6 as '[ip]:port'.
func sqlAddr(a ServerAddr) string { return a.String() }

// bootstrapSQL is obshell's BOOTSTRAP statement, zones in plan order.
func bootstrapSQL(plan IntegrateConfigResult) string {
	parts := make([]string, 0, len(plan.Zones))
	for _, z := range plan.Zones {
		parts = append(parts, fmt.Sprintf("ZONE '%s' SERVER '%s'", z, sqlAddr(plan.ZoneRS[z])))
	}
	return "ALTER SYSTEM BOOTSTRAP " + strings.Join(parts, ", ")
}

// ClusterBootstrap is "Cluster boostrap" (spec §6.2 stage 4): BOOTSTRAP
// with one root server per zone in zone order, then ADD SERVER for every
// other server.
//
// Idempotency: DBA_OB_SERVERS is read first; a bootstrapped cluster is not
// bootstrapped again and a listed server is not added again. A statement
// that fails is followed by a second look, so a BOOTSTRAP that committed
// just before a crash counts as done.
func (c *ClusterActivities) ClusterBootstrap(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	stopHB := heartbeat(ctx, log, c.HeartbeatInterval)
	defer stopHB()
	if len(in.Plan.Zones) == 0 {
		return Result{}, log.fail(ErrCommonIllegalArgument, nil, "The input parameter 'zones' is illegal: empty")
	}
	log.Logf("connect to the master's observer")
	pool, err := c.connectMaster(ctx, log, in, "", false)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return Result{}, log.sqlError(err, "connect")
	}
	defer conn.Close()

	servers, err := listServers(ctx, conn)
	if err != nil {
		log.Logf("cluster not bootstrapped yet (%v)", err)
	}
	if len(servers) > 0 {
		log.Logf("cluster already bootstrapped with %d servers, skip bootstrap", len(servers))
	} else {
		stmt := bootstrapSQL(in.Plan)
		log.Logf("bootstrap: %s", stmt)
		if _, err := conn.ExecContext(ctx, "SET SESSION ob_query_timeout=1000000000"); err != nil {
			return Result{}, log.sqlError(err, "set ob_query_timeout")
		}
		if _, berr := conn.ExecContext(ctx, stmt); berr != nil {
			servers, err = listServers(ctx, conn)
			if err != nil || len(servers) == 0 {
				c.Logger.ErrorContext(ctx, "bootstrap failed", "err", berr)
				return Result{}, log.stop(ErrMySQL, berr, "bootstrap failed: %v", berr)
			}
			log.Logf("bootstrap reported %v, but the cluster is bootstrapped", berr)
		}
		if servers, err = listServers(ctx, conn); err != nil {
			return Result{}, log.sqlError(err, "read DBA_OB_SERVERS")
		}
	}

	for _, z := range in.Plan.Zones {
		for _, s := range in.Plan.UnRS[z] {
			if hasServer(servers, s) {
				log.Logf("server %s already in zone %s, skip add server", sqlAddr(s), z)
				continue
			}
			stmt := fmt.Sprintf("ALTER SYSTEM ADD SERVER '%s' ZONE '%s'", sqlAddr(s), z)
			log.Logf("%s", stmt)
			if _, aerr := conn.ExecContext(ctx, stmt); aerr != nil {
				servers, err = listServers(ctx, conn)
				if err != nil || !hasServer(servers, s) {
					return Result{}, log.stop(ErrMySQL, aerr, "add server %s failed: %v", sqlAddr(s), aerr)
				}
				log.Logf("add server reported %v, but the server is there", aerr)
			}
		}
	}
	c.Logger.InfoContext(ctx, "cluster bootstrapped", "zones", in.Plan.Zones)
	return log.result(), nil
}

// MigrateTable is "Migrate table": database ocs and obshell's metadata
// tables. Both statements are IF NOT EXISTS, so it is idempotent.
func (c *ClusterActivities) MigrateTable(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	pool, err := c.connectMaster(ctx, log, in, "", false)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	log.Logf("create database ocs")
	if _, err := pool.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS ocs READ WRITE"); err != nil {
		return Result{}, log.sqlError(err, "create database ocs")
	}
	for _, t := range ocsTables {
		log.Logf("migrate table %s", t.name)
		if _, err := pool.ExecContext(ctx, t.ddl); err != nil {
			return Result{}, log.sqlError(err, "create table "+t.name)
		}
	}
	return log.result(), nil
}

// ModifyPassword is "Modify password": ALTER USER root with the configured
// password.
//
// Idempotency: if the configured password already logs in, it is set and
// nothing is altered; otherwise the empty password must still work.
func (c *ClusterActivities) ModifyPassword(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	m, err := masterPlan(log, in)
	if err != nil {
		return Result{}, err
	}
	addr := hostPort(m.Host.Agent.IP, m.MySQLPort)
	pool, which, err := connectRoot(ctx, log, addr, "", c.ConnectTimeout, candidates(in.RootPassword, true)...)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	if which == 0 {
		log.Logf("root password already set, skip modify password")
		return log.result(), nil
	}
	log.Logf("modify root password")
	stmt := `ALTER USER root IDENTIFIED BY "` + escapeSQLString(in.RootPassword, '"') + `"`
	if _, err := pool.ExecContext(ctx, stmt); err != nil {
		return Result{}, log.sqlError(err, "modify root password")
	}
	log.Logf("check the new password")
	check, _, err := connectRoot(ctx, log, addr, "", c.ConnectTimeout, in.RootPassword)
	if err != nil {
		return Result{}, err
	}
	check.Close()
	return log.result(), nil
}

// escapeSQLString escapes a value for a quoted SQL string literal.
func escapeSQLString(s string, quote byte) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return strings.ReplaceAll(s, string(quote), `\`+string(quote))
}

// CreateUser is "Create user": proxyro for OBProxy, with SELECT on
// oceanbase.*. CREATE USER IF NOT EXISTS and GRANT are idempotent.
func (c *ClusterActivities) CreateUser(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	pool, err := c.connectMaster(ctx, log, in, "", true)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	stmt := "CREATE USER IF NOT EXISTS `proxyro`@`%`"
	if in.ProxyroPassword != "" {
		stmt += " IDENTIFIED BY '" + escapeSQLString(in.ProxyroPassword, '\'') + "'"
	}
	log.Logf("create user proxyro")
	if _, err := pool.ExecContext(ctx, stmt); err != nil {
		return Result{}, log.sqlError(err, "create user proxyro")
	}
	log.Logf("grant select on oceanbase.* to proxyro")
	if _, err := pool.ExecContext(ctx, "GRANT SELECT ON oceanbase.* TO proxyro"); err != nil {
		return Result{}, log.sqlError(err, "grant proxyro")
	}
	return log.result(), nil
}

// agentRow is a row of ocs.all_agent.
type agentRow struct {
	IP           string
	Port         int
	Identity     string
	Version      string
	OS           string
	Architecture string
	Zone         string
	MySQLPort    int
	RPCPort      int
	HomePath     string
	PublicKey    string
}

// agentRows are the rows obshell's master copies from its own all_agent
// table: one per agent, MASTER or FOLLOWER, with what each agent reported
// when it joined (version, OS, architecture, public key) and its
// observer's ports.
func agentRows(in ClusterInput) []agentRow {
	rows := make([]agentRow, 0, len(in.Plan.Servers))
	for _, s := range in.Plan.Servers {
		id := IdentityFollower
		if s.Host.Agent == in.Master {
			id = IdentityMaster
		}
		h := s.Host
		rows = append(rows, agentRow{
			IP: h.Agent.IP, Port: h.Agent.Port, Identity: id, Version: h.Version,
			OS: h.OS, Architecture: h.Architecture, Zone: h.Zone,
			MySQLPort: s.MySQLPort, RPCPort: s.RPCPort, HomePath: h.HomePath, PublicKey: h.PublicKey,
		})
	}
	return rows
}

func readAgents(ctx context.Context, q querier) ([]agentRow, error) {
	rows, err := q.QueryContext(ctx, "SELECT ip, port, identity, version, os, architecture, zone, mysql_port, rpc_port, home_path, public_key FROM ocs.all_agent ORDER BY ip, port")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agentRow
	for rows.Next() {
		var r agentRow
		var home, pk sql.NullString
		var mp, rp sql.NullInt64
		if err := rows.Scan(&r.IP, &r.Port, &r.Identity, &r.Version, &r.OS, &r.Architecture, &r.Zone, &mp, &rp, &home, &pk); err != nil {
			return nil, err
		}
		r.MySQLPort, r.RPCPort, r.HomePath, r.PublicKey = int(mp.Int64), int(rp.Int64), home.String, pk.String
		out = append(out, r)
	}
	return out, rows.Err()
}

// MigrateData is "Migrate data": ocs.all_agent gets one row per agent
// (MASTER or FOLLOWER) in one transaction that first deletes every row.
// If the table already holds exactly these rows it is left alone.
func (c *ClusterActivities) MigrateData(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	pool, err := c.connectMaster(ctx, log, in, "ocs", true)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	want := agentRows(in)
	have, err := readAgents(ctx, pool)
	if err != nil {
		return Result{}, log.sqlError(err, "read ocs.all_agent")
	}
	if sameAgentRows(have, want) {
		log.Logf("ocs.all_agent already holds the %d agents, skip migrate data", len(want))
		return log.result(), nil
	}
	log.Logf("migrate %d agents to ocs.all_agent", len(want))
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, log.sqlError(err, "begin")
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "DELETE FROM ocs.all_agent"); err != nil {
		return Result{}, log.sqlError(err, "delete ocs.all_agent")
	}
	for _, r := range want {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO ocs.all_agent (ip, port, identity, version, os, architecture, zone, mysql_port, rpc_port, home_path, public_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r.IP, r.Port, r.Identity, r.Version, r.OS, r.Architecture, r.Zone, r.MySQLPort, r.RPCPort, r.HomePath, r.PublicKey); err != nil {
			return Result{}, log.sqlError(err, "insert ocs.all_agent")
		}
	}
	if err := tx.Commit(); err != nil {
		return Result{}, log.sqlError(err, "commit")
	}
	return log.result(), nil
}

func sameAgentRows(a, b []agentRow) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range b {
		if !slices.Contains(a, r) {
			return false
		}
	}
	return true
}

// ConvertFollower is "Convert follower to cluster agent": every FOLLOWER
// row of ocs.all_agent becomes CLUSTER AGENT. The UPDATE is idempotent.
func (c *ClusterActivities) ConvertFollower(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	pool, err := c.connectMaster(ctx, log, in, "ocs", true)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	log.Logf("convert followers to cluster agents")
	res, err := pool.ExecContext(ctx, "UPDATE ocs.all_agent SET identity = ? WHERE identity = ?", IdentityClusterAgent, IdentityFollower)
	if err != nil {
		return Result{}, log.sqlError(err, "update ocs.all_agent")
	}
	n, _ := res.RowsAffected()
	log.Logf("%d followers converted", n)
	return log.result(), nil
}

// ConvertMaster is "Convert master to cluster agent": the master's row
// becomes CLUSTER AGENT, and task_maintainer and cluster_status get their
// id 1 rows when absent: the master maintains the cluster's tasks
// (agent_time in seconds, as obshell's time.Now().Unix()), and the cluster
// is not under maintenance (status 1, NOT_UNDER_MAINTENANCE).
func (c *ClusterActivities) ConvertMaster(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	pool, err := c.connectMaster(ctx, log, in, "ocs", true)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	log.Logf("convert master %s to cluster agent", in.Master)
	if _, err := pool.ExecContext(ctx, "UPDATE ocs.all_agent SET identity = ? WHERE ip = ? AND port = ?", IdentityClusterAgent, in.Master.IP, in.Master.Port); err != nil {
		return Result{}, log.sqlError(err, "update ocs.all_agent")
	}
	var n int
	if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM ocs.task_maintainer WHERE id = 1").Scan(&n); err != nil {
		return Result{}, log.sqlError(err, "read ocs.task_maintainer")
	}
	if n == 0 {
		log.Logf("init task maintainer")
		if _, err := pool.ExecContext(ctx, "INSERT INTO ocs.task_maintainer (id, agent_ip, agent_port, counter, agent_time) VALUES (1, ?, ?, 0, ?)", in.Master.IP, in.Master.Port, time.Now().Unix()); err != nil {
			return Result{}, log.sqlError(err, "insert ocs.task_maintainer")
		}
	}
	if err := pool.QueryRowContext(ctx, "SELECT COUNT(*) FROM ocs.cluster_status WHERE id = 1").Scan(&n); err != nil {
		return Result{}, log.sqlError(err, "read ocs.cluster_status")
	}
	if n == 0 {
		log.Logf("init cluster status")
		if _, err := pool.ExecContext(ctx, "INSERT INTO ocs.cluster_status (id, status) VALUES (1, 1)"); err != nil {
			return Result{}, log.sqlError(err, "insert ocs.cluster_status")
		}
	}
	// obshell also uploads its own binary here (agent_binary_*); obflow
	// agents are not installed from the cluster, so there is none to upload.
	log.Logf("sync agent data")
	return log.result(), nil
}

// ImportScript is "Import script for tenant": load the time zone module
// into the tenant (sys) on an active server of that tenant.
func (c *ClusterActivities) ImportScript(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	stopHB := heartbeat(ctx, log, c.HeartbeatInterval)
	defer stopHB()
	tenant := in.Tenant
	if tenant == "" {
		tenant = SysTenant
	}
	pool, err := c.connectMaster(ctx, log, in, "", true)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	var ip string
	var port int
	err = pool.QueryRowContext(ctx, "SELECT s.SVR_IP, s.SQL_PORT FROM oceanbase.DBA_OB_UNITS u JOIN oceanbase.DBA_OB_SERVERS s ON u.SVR_IP = s.SVR_IP AND u.SVR_PORT = s.SVR_PORT WHERE u.TENANT_ID = (SELECT TENANT_ID FROM oceanbase.DBA_OB_TENANTS WHERE TENANT_NAME = ?) AND s.STATUS = 'ACTIVE' LIMIT 1", tenant).Scan(&ip, &port)
	target := pool
	if err != nil {
		log.Logf("no active server of tenant %s found (%v), use the master", tenant, err)
	} else if m, _ := masterPlan(log, in); !(sameIP(ip, m.Host.Agent.IP) && port == m.MySQLPort) {
		log.Logf("active server of tenant %s: %s", tenant, hostPort(ip, port))
		p, _, err := connectRoot(ctx, log, hostPort(ip, port), "", c.ConnectTimeout, candidates(in.RootPassword, true)...)
		if err != nil {
			return Result{}, err
		}
		defer p.Close()
		target = p
	}
	conn, err := target.Conn(ctx)
	if err != nil {
		return Result{}, log.sqlError(err, "connect")
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION ob_query_timeout=1000000000"); err != nil {
		return Result{}, log.sqlError(err, "set ob_query_timeout")
	}
	log.Logf("load time zone info for tenant %s", tenant)
	if _, err := conn.ExecContext(ctx, "alter system load module data module=timezone tenant="+tenant); err != nil {
		if mysqlErrNumber(err) == 1064 {
			// obshell falls back to bin/import_time_zone_info.py on the
			// master's host; the coordinator has no such script.
			return Result{}, log.stop(ErrCommonUnexpected, err, "Unexpected error: this OceanBase cannot load the time zone module by SQL (%v), and the python import script is not supported", err)
		}
		return Result{}, log.sqlError(err, "load time zone info")
	}
	return log.result(), nil
}
