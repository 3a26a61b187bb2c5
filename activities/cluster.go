package activities

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"

	"github.com/obflow/obflow/internal/obcluster"
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
	// BootstrapWait bounds the wait for a bootstrap under way that a
	// BOOTSTRAP answered with "observer is not empty": as long as a
	// BOOTSTRAP may run (its ob_query_timeout).
	BootstrapWait time.Duration
	// Python runs import_time_zone_info.py when the observer has no LOAD
	// MODULE DATA (obshell: "python").
	Python string
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
		BootstrapWait:     longQueryTimeoutUS * time.Microsecond,
		Python:            "python",
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
func masterPlan(log *logbook, in ClusterInput) (obcluster.ServerPlan, error) {
	i := slices.IndexFunc(in.Plan.Servers, func(s obcluster.ServerPlan) bool { return s.Host.Agent == in.Master })
	if i < 0 {
		return obcluster.ServerPlan{}, log.fail(ErrAgentNotExist, nil, "Server '%s' does not exist", in.Master)
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
	Addr obcluster.ServerAddr
	Zone string
}

// listServers reads oceanbase.DBA_OB_SERVERS. Only a bootstrapped cluster
// has the view: an observer that is not bootstrapped yet answers with an
// error (see ClusterBootstrap).
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

func hasServer(list []obServer, a obcluster.ServerAddr) bool {
	return slices.ContainsFunc(list, func(s obServer) bool { return sameIP(s.Addr.IP, a.IP) && s.Addr.RPCPort == a.RPCPort })
}

// sqlAddr renders a server for SQL: 'ip:port', IPv6 as '[ip]:port'.
func sqlAddr(a obcluster.ServerAddr) string { return a.String() }

// bootstrapSQL is obshell's BOOTSTRAP statement, zones in plan order.
func bootstrapSQL(plan IntegrateConfigResult) string {
	parts := make([]string, 0, len(plan.Zones))
	for _, z := range plan.Zones {
		parts = append(parts, fmt.Sprintf("ZONE '%s' SERVER '%s'", z, sqlAddr(plan.ZoneRS[z])))
	}
	return "ALTER SYSTEM BOOTSTRAP " + strings.Join(parts, ", ")
}

// errObserverNotEmpty is OceanBase's answer (OB_ERR_SYS, "observer is not
// empty") to a BOOTSTRAP of a server that is bootstrapped or being
// bootstrapped.
const errObserverNotEmpty = 4015

// bootstrapPoll is how often the stage looks whether a bootstrap under way
// has finished (obd's bootstrap polls every second too).
const bootstrapPoll = time.Second

// ClusterBootstrap is "Cluster boostrap" (CONTRACT.md §7.5.5): BOOTSTRAP
// with one root server per zone in zone order, then ADD SERVER for every
// other server.
//
// Like obshell and obd it sends BOOTSTRAP without looking first: what an
// observer that is not bootstrapped answers to a query on the cluster views
// is no basis for a decision (it has no such views yet). BOOTSTRAP runs on
// its own session with obshell's 1000 s ob_query_timeout and no client
// deadline; the stage heartbeats while it waits.
//
// Idempotency is decided after a failed BOOTSTRAP, by the answers of a real
// observer: a cluster that lists its servers in DBA_OB_SERVERS is
// bootstrapped (a redelivery after BOOTSTRAP committed), and "observer is
// not empty" (4015) without servers yet means a bootstrap is under way (an
// earlier attempt's, which the observer finishes although its client is
// gone), so the stage waits up to BootstrapWait for it. Servers already
// listed are not added again.
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

	stmt := bootstrapSQL(in.Plan)
	log.Logf("bootstrap cmd: %s", stmt)
	berr := c.execLong(ctx, pool, stmt)
	var servers []obServer
	if berr == nil {
		if servers, err = listServers(ctx, pool); err != nil {
			return Result{}, log.sqlError(err, "read DBA_OB_SERVERS")
		}
	} else {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		if servers, err = c.bootstrapOutcome(ctx, log, pool, berr); err != nil {
			c.Logger.ErrorContext(ctx, "bootstrap failed", "err", berr)
			return Result{}, err
		}
	}

	for _, z := range in.Plan.Zones {
		for _, s := range in.Plan.UnRS[z] {
			if hasServer(servers, s) {
				log.Logf("server %s already in zone %s, skip add server", sqlAddr(s), z)
				continue
			}
			stmt := fmt.Sprintf("ALTER SYSTEM ADD SERVER '%s' ZONE '%s'", sqlAddr(s), z)
			log.Logf("add server: %s", stmt)
			if _, aerr := pool.ExecContext(ctx, stmt); aerr != nil {
				servers, err = listServers(ctx, pool)
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

// execLong runs a long statement (BOOTSTRAP) on a session of its own with
// obshell's 1000 s ob_query_timeout.
func (c *ClusterActivities) execLong(ctx context.Context, pool *sql.DB, stmt string) error {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := setLongQueryTimeout(ctx, conn); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, stmt)
	return err
}

// bootstrapOutcome decides what a failed BOOTSTRAP (berr) means: the
// servers of a cluster that is bootstrapped anyway, or the stage's error.
// It reads on fresh connections: berr may have come from a broken one.
func (c *ClusterActivities) bootstrapOutcome(ctx context.Context, log *logbook, pool *sql.DB, berr error) ([]obServer, error) {
	if servers, err := listServers(ctx, pool); err == nil && len(servers) > 0 {
		log.Logf("bootstrap answered %v, but the cluster is already bootstrapped with %d servers", berr, len(servers))
		return servers, nil
	}
	var me *mysql.MySQLError
	if !errors.As(berr, &me) {
		// The connection broke: the observer may have died, or be bootstrapping
		// still. The next attempt finds out.
		return nil, log.retryable(ErrMySQL, berr, "bootstrap failed: %v", berr)
	}
	if me.Number != errObserverNotEmpty {
		return nil, log.stop(ErrMySQL, berr, "bootstrap failed: %v", berr)
	}
	log.Logf("bootstrap answered %v: a bootstrap is under way, wait for it (up to %v)", berr, c.BootstrapWait)
	deadline := time.Now().Add(c.BootstrapWait)
	lastLog := time.Now()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(bootstrapPoll):
		}
		servers, err := listServers(ctx, pool)
		if err == nil && len(servers) > 0 {
			log.Logf("the cluster is bootstrapped with %d servers", len(servers))
			return servers, nil
		}
		if time.Since(lastLog) >= 30*time.Second {
			log.Logf("still waiting for the bootstrap under way (%v)", err)
			lastLog = time.Now()
		}
	}
	return nil, log.stop(ErrMySQL, berr, "bootstrap failed: %v, and no bootstrap finished within %v", berr, c.BootstrapWait)
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
	Identity     obcluster.Identity
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
		id := obcluster.IdentityFollower
		if s.Host.Agent == in.Master {
			id = obcluster.IdentityMaster
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
	res, err := pool.ExecContext(ctx, "UPDATE ocs.all_agent SET identity = ? WHERE identity = ?", obcluster.IdentityClusterAgent, obcluster.IdentityFollower)
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
	if _, err := pool.ExecContext(ctx, "UPDATE ocs.all_agent SET identity = ? WHERE ip = ? AND port = ?", obcluster.IdentityClusterAgent, in.Master.IP, in.Master.Port); err != nil {
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
// into the tenant (sys) on an active server of that tenant. An OceanBase
// that has no LOAD MODULE DATA (before 4.2.2) answers 1064; then, like
// obshell, the stage runs the observer's own bin/import_time_zone_info.py
// with Python (see importTimeZoneByScript).
func (c *ClusterActivities) ImportScript(ctx context.Context, in ClusterInput) (Result, error) {
	log := &logbook{}
	stopHB := heartbeat(ctx, log, c.HeartbeatInterval)
	defer stopHB()
	tenant := in.Tenant
	if tenant == "" {
		tenant = obcluster.SysTenant
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
	if err := setLongQueryTimeout(ctx, conn); err != nil {
		return Result{}, log.sqlError(err, "set ob_query_timeout")
	}
	log.Logf("Importing timezone.")
	log.Logf("load time zone info for tenant %s", tenant)
	if _, err := conn.ExecContext(ctx, "alter system load module data module=timezone tenant="+tenant); err != nil {
		if mysqlErrNumber(err) != 1064 {
			return Result{}, log.sqlError(err, "load time zone info")
		}
		// This version of OceanBase cannot load the module by SQL.
		log.Logf("load module data answered %v", err)
		if err := c.importTimeZoneByScript(ctx, log, in, tenant); err != nil {
			return Result{}, err
		}
	}
	return log.result(), nil
}

// importTimeZoneByScript is obshell's fallback for an OceanBase without LOAD
// MODULE DATA: it checks that `python` runs, then runs, with /bin/bash -c,
//
//	python <home>/bin/import_time_zone_info.py -h<ip> -P<mysql port> -t<tenant> -f<home>/etc/timezone_V1.log [-p'<root password>']
//
// where home, ip and port are the master's (obshell runs it on the master
// agent against its own observer), so the script and its file must be on
// the machine this stage runs on. Unlike obshell it does not check for the
// Python module mysql.connector first: the script reports a missing module
// itself, and the simulator's stand-in does not need it.
func (c *ClusterActivities) importTimeZoneByScript(ctx context.Context, log *logbook, in ClusterInput, tenant string) error {
	m, err := masterPlan(log, in)
	if err != nil {
		return err
	}
	home := m.Host.HomePath
	script := filepath.Join(home, "bin", timeZoneScript)
	file := filepath.Join(home, "etc", timeZoneFile)
	if _, err := os.Stat(script); err != nil {
		return log.stop(ErrCommonUnexpected, err, "Unexpected error: this OceanBase cannot load the time zone module by SQL, and %s is not on this worker's machine (%v): the stage must run on the master's host", script, err)
	}
	log.Logf("Checking if python is installed.")
	out, err := exec.CommandContext(ctx, c.Python, "-c", "import sys; print(sys.version_info.major)").Output()
	if err != nil {
		return log.stop(ErrEnvironmentWithoutPython, err, "Please check if Python is installed")
	}
	log.Logf("Python major version %s", strings.TrimSpace(string(out)))
	log.Logf("Use python to import timezone.")
	cmd := fmt.Sprintf("%s %s -h%s -P%d -t%s -f%s", c.Python, script, m.Host.Agent.IP, m.MySQLPort, tenant, file)
	if in.RootPassword != "" {
		cmd += " -p'" + strings.ReplaceAll(in.RootPassword, "'", `'"'"'`) + "'"
	}
	res, err := exec.CommandContext(ctx, "/bin/bash", "-c", cmd).CombinedOutput()
	if err != nil {
		return log.stop(ErrCommonUnexpected, err, "Import timezone failed: %v: %s", err, bytesTrim(res))
	}
	log.Logf("%s", strings.TrimSpace(string(lastLine(res))))
	return nil
}

// Names of OceanBase's time zone script (in <home>/bin) and its input (in
// <home>/etc).
const (
	timeZoneScript = "import_time_zone_info.py"
	timeZoneFile   = "timezone_V1.log"
)

func lastLine(b []byte) []byte {
	b = bytes.TrimRight(b, "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}
