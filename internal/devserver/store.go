package devserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	temporalsql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql/driver"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql/session"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/resolver"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

const (
	// DefaultPostgresDatabase is used when a PostgreSQL URL names none.
	DefaultPostgresDatabase = "temporal"
	// VisibilitySuffix names the second database, the visibility store's:
	// Temporal keeps one schema version per database, so the two stores
	// cannot share one.
	VisibilitySuffix = "_visibility"

	// The schemas bundled with the Temporal server, in its embedded schema
	// file system (the names temporal-sql-tool takes).
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"

	// Visibility on PostgreSQL (advanced visibility on SQL) needs the pgx
	// flavour of the postgres12 plugin or lib/pq's; pgx is the maintained one.
	postgresPlugin = postgresql.PluginNamePGX
)

// store is where Temporal keeps its data: the SQLite file in the data dir,
// or two PostgreSQL databases.
type store struct {
	postgres   bool
	main       *config.SQL
	visibility *config.SQL // the same as main for SQLite
	// where names the store in messages: the file, or the URL without its
	// password.
	where string
	// password is removed from every error message.
	password string
}

// sqliteStore is the default store: one SQLite file for everything.
func sqliteStore(dataDir string) *store {
	c := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: filepath.Join(dataDir, DBFile),
		ConnectAttributes: map[string]string{
			"mode": "rwc",
			// WAL with synchronous=NORMAL survives a killed process (only an
			// OS crash can lose the last transactions) and is much faster
			// than the rollback journal.
			"journal_mode": "wal",
			"synchronous":  "normal",
			"busy_timeout": "10000",
		},
	}
	return &store{main: c, visibility: c, where: c.DatabaseName}
}

// pgReserved are connection settings that belong in the URL itself, not
// in its query: Temporal builds its own URL from the parts.
var pgReserved = map[string]bool{"host": true, "hostaddr": true, "port": true, "user": true, "password": true, "dbname": true, "database": true}

var pgDatabaseName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)

// postgresStore parses postgres://user:password@host:port/db?options (or
// postgresql://). The query's options (sslmode, sslrootcert,
// connect_timeout, ...) go to the driver as they are.
func postgresStore(raw string) (*store, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL, password included
		}
		return nil, fmt.Errorf("database URL %s: %w", RedactURL(raw), err)
	}
	where := RedactURL(raw)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("database URL %s: %s", where, fmt.Sprintf(format, args...))
	}
	if s := strings.ToLower(u.Scheme); s != "postgres" && s != "postgresql" {
		return nil, bad("want a postgres:// or postgresql:// URL")
	}
	if u.Opaque != "" {
		return nil, bad("want postgres://user:password@host:port/database")
	}
	user := u.User.Username()
	if user == "" {
		return nil, bad("no user (postgres://user:password@host:port/database)")
	}
	password, _ := u.User.Password()
	host := u.Hostname()
	if host == "" {
		return nil, bad("no host (postgres://user:password@host:port/database)")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = DefaultPostgresDatabase
	}
	if !pgDatabaseName.MatchString(db) || len(db)+len(VisibilitySuffix) > 63 {
		return nil, bad("database name %q: want letters, digits, _ and -, at most %d characters", db, 63-len(VisibilitySuffix))
	}
	attrs := map[string]string{}
	for k, vs := range u.Query() {
		if pgReserved[strings.ToLower(k)] {
			return nil, bad("give %s in the URL itself, not as an option", k)
		}
		if len(vs) != 1 {
			return nil, bad("option %s given %d times", k, len(vs))
		}
		attrs[k] = vs[0]
	}
	main := &config.SQL{
		PluginName:        postgresPlugin,
		User:              user,
		Password:          password,
		DatabaseName:      db,
		ConnectAddr:       net.JoinHostPort(host, port),
		ConnectProtocol:   "tcp",
		ConnectAttributes: attrs,
		// Each of the four services keeps a pool per store; keep the sum
		// well under PostgreSQL's default max_connections of 100.
		MaxConns:        10,
		MaxIdleConns:    10,
		MaxConnLifetime: time.Hour,
	}
	vis := *main
	vis.DatabaseName = db + VisibilitySuffix
	vis.MaxConns, vis.MaxIdleConns = 5, 5
	return &store{postgres: true, main: main, visibility: &vis, where: where, password: password}, nil
}

// RedactURL is raw with its password replaced by "xxxxx", fit for logs and
// messages. A URL that does not parse is not shown at all.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(database URL that does not parse)"
	}
	if u.Opaque != "" {
		return u.Scheme + ":xxxxx"
	}
	if q := u.Query(); len(q) > 0 {
		changed := false
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// redactedError hides a password that a driver may have put in a message,
// keeping the error chain for errors.As.
type redactedError struct {
	err      error
	password string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, form := range []string{e.password, url.QueryEscape(e.password), url.PathEscape(e.password)} {
		msg = strings.ReplaceAll(msg, form, "xxxxx")
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

func (st *store) redact(err error) error {
	if err == nil || st == nil || st.password == "" {
		return err
	}
	return &redactedError{err: err, password: st.password}
}

// ShardCountError reports a history shard count that differs from the one
// the existing store was created with, which can never change.
type ShardCountError struct {
	Store string // the database file or redacted URL
	Have  int32  // the store's
	Want  int32  // asked for
}

func (e *ShardCountError) Error() string {
	return fmt.Sprintf("%s was created with %d history shards, not %d: a Temporal store's shard count can never change (omit --history-shards to use %d, or use a new database)",
		e.Store, e.Have, e.Want, e.Have)
}

// StoreError reports a database that cannot be reached, created or
// upgraded.
type StoreError struct {
	Store string
	Err   error
}

func (e *StoreError) Error() string { return fmt.Sprintf("database %s: %v", e.Store, e.Err) }
func (e *StoreError) Unwrap() error { return e.Err }

// preparePostgres makes sure both databases exist and hold the schemas
// bundled with this Temporal server, using Temporal's schema tool as
// temporal-sql-tool does: a new database gets the current schema in one go
// (setup-schema with the bundled schema.sql at its version), an existing
// one the versioned upgrades it lacks (update-schema). On a current store
// it only reads the schema versions.
func preparePostgres(ctx context.Context, st *store, logger log.Logger) error {
	for _, s := range []struct {
		cfg     *config.SQL
		schema  string
		version string
	}{
		{st.main, postgresSchema, pgschema.Version},
		{st.visibility, postgresVisibilitySchema, pgschema.VisibilityVersion},
	} {
		if err := ensureDatabase(ctx, s.cfg, logger); err != nil {
			return err
		}
		if err := setupOrUpdate(s.cfg, s.schema, s.version, logger); err != nil {
			return fmt.Errorf("create or upgrade the Temporal schema (%s) in database %s: %w", s.schema, s.cfg.DatabaseName, err)
		}
	}
	return nil
}

// schemaToolTables are the schema tool's own, created before the schema.
var schemaToolTables = map[string]bool{"schema_version": true, "schema_update_history": true}

func setupOrUpdate(cfg *config.SQL, schemaName, version string, logger log.Logger) error {
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return err
	}
	defer conn.Close()
	if v, err := conn.ReadSchemaVersion(); err != nil || v == "" {
		// No version recorded: a new database, unless it holds tables of
		// its own (someone else's, or a first start killed while creating
		// the schema), which we leave alone.
		tables, err := conn.ListTables()
		if err != nil {
			return err
		}
		var others []string
		for _, t := range tables {
			if !schemaToolTables[t] {
				others = append(others, t)
			}
		}
		if len(others) > 0 {
			return fmt.Errorf("the database has %d tables (%s, ...) but no Temporal schema version; use an empty database, or drop and recreate this one", len(others), others[0])
		}
		setup := &schematool.SetupConfig{SchemaName: schemaName, InitialVersion: version}
		if err := schematool.NewSetupSchemaTask(conn, setup, logger).Run(); err != nil {
			return err
		}
	}
	return schematool.NewUpdateSchemaTask(conn, &schematool.UpdateConfig{SchemaName: schemaName}, logger).Run()
}

// ensureDatabase connects to cfg's database and creates it when it does
// not exist.
func ensureDatabase(ctx context.Context, cfg *config.SQL, logger log.Logger) error {
	err := ping(cfg)
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect to database %s: %w", cfg.DatabaseName, err)
	}
	// Through the server's default database (what temporal-sql-tool
	// create-database does with an empty --defaultdb).
	c := *cfg
	if err := sqltool.DoCreateDatabase(&c, "", logger); err != nil {
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
			return fmt.Errorf("database %s does not exist and user %s may not create it; create it (and %s%s) or grant CREATEDB: %w",
				cfg.DatabaseName, cfg.User, strings.TrimSuffix(cfg.DatabaseName, VisibilitySuffix), VisibilitySuffix, err)
		}
		return fmt.Errorf("create database %s: %w", cfg.DatabaseName, err)
	}
	if err := ping(cfg); err != nil {
		return fmt.Errorf("connect to database %s after creating it: %w", cfg.DatabaseName, err)
	}
	return nil
}

// ping opens and closes one connection with the driver and URL the server
// uses, returning the driver's own error (Temporal's database handle would
// only log it).
func ping(cfg *config.SQL) error {
	s, err := session.NewSession(cfg, &driver.PGXDriver{}, resolver.NewNoopResolver())
	if err != nil {
		return err
	}
	s.Close()
	return nil
}

// persistedShardCount is the history shard count recorded in the store's
// cluster metadata; ok is false when the server has never started on it.
func persistedShardCount(ctx context.Context, cfg *config.SQL) (n int32, ok bool, err error) {
	db, err := temporalsql.NewSQLDB(sqlplugin.DbKindMain, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = db.Close() }()
	row, err := db.GetClusterMetadata(ctx, &sqlplugin.ClusterMetadataFilter{ClusterName: clusterName})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read cluster metadata: %w", err)
	}
	md, err := serialization.NewSerializer().DeserializeClusterMetadata(persistence.NewDataBlob(row.Data, row.DataEncoding))
	if err != nil {
		return 0, false, fmt.Errorf("read cluster metadata: %w", err)
	}
	return md.GetHistoryShardCount(), true, nil
}
