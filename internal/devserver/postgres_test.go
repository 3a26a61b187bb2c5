package devserver_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	pgschema "go.temporal.io/server/schema/postgresql/v12"

	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/pgtest"
	"github.com/obflow/obflow/internal/searchattr"
)

// TestPostgres runs the server on a throwaway PostgreSQL: first start
// creates the databases and schemas, a workflow runs and is found by a
// search attribute query, a restart reuses the store (adding a search
// attribute through the operator service), and asking an existing store
// for another shard count is refused.
func TestPostgres(t *testing.T) {
	dbURL := pgtest.Start(t)
	u, _ := url.Parse(dbURL)
	password, _ := u.User.Password()
	dataDir := t.TempDir()
	var level *slog.Level // of the server log
	start := func(shards int32, attrs map[string]enumspb.IndexedValueType) (*devserver.Server, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		began := time.Now()
		s, err := devserver.Start(ctx, devserver.Options{
			DataDir: dataDir, DatabaseURL: dbURL, HistoryShards: shards, Headless: true, SearchAttributes: attrs,
			LogLevel: level,
		})
		if err == nil {
			t.Logf("start to ready: %v", time.Since(began).Round(time.Millisecond))
		}
		return s, err
	}

	// A user who may not create databases gets told so.
	limited := createRole(t, dbURL, "limited", "limited-pw")
	limited.Path = "/" + pgtest.Database
	ctx0, cancel := context.WithTimeout(context.Background(), time.Minute)
	_, err := devserver.Start(ctx0, devserver.Options{DataDir: t.TempDir(), DatabaseURL: limited.String(), Headless: true})
	cancel()
	if err == nil || !strings.Contains(err.Error(), "does not exist and user limited may not create it") || strings.Contains(err.Error(), "limited-pw") {
		t.Fatalf("start as a user without CREATEDB: %v", err)
	}

	// All but one attribute first: the restart registers the missing one.
	first := map[string]enumspb.IndexedValueType{}
	for name, typ := range searchattr.All {
		if name != searchattr.DagStage.GetName() {
			first[name] = typ
		}
	}
	s, err := start(4, first)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.HistoryShards(); got != 4 {
		t.Errorf("history shards = %d, want 4", got)
	}
	if strings.Contains(s.Store(), password) || !strings.Contains(s.Store(), "xxxxx") {
		t.Errorf("Store() = %q, want the URL with the password redacted", s.Store())
	}
	for db, want := range map[string]string{pgtest.Database: pgschema.Version, pgtest.Database + devserver.VisibilitySuffix: pgschema.VisibilityVersion} {
		if got := schemaVersion(t, dbURL, db); got != want {
			t.Errorf("schema version of %s = %q, want %q", db, got, want)
		}
	}

	c := dial(t, s)
	id := runThreeSteps(t, c)
	ctx := context.Background()
	query := fmt.Sprintf(`WorkflowId = %q AND ObflowDagState = "SUCCEED" AND ObflowCluster = "obcluster" AND ObflowDagID = 7`, id)
	if n := countWorkflows(t, c, query, 1); n != 1 {
		t.Fatalf("query %s found %d workflows, want 1", query, n)
	}
	failed := fmt.Sprintf(`WorkflowId = %q AND ObflowDagState = "FAILED"`, id)
	if n := countWorkflows(t, c, failed, 0); n != 0 {
		t.Fatalf("query %s found %d workflows, want 0", failed, n)
	}
	// A workflow still running across the restart.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "pg-survives-restart", TaskQueue: "nobody-polls"}, "SomeWorkflow", secret)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Restart without a shard count: the store's is used; the schema is
	// current, so nothing is upgraded. The server logs everything, its
	// configuration included, which must not show the password.
	debug := slog.LevelDebug
	level = &debug
	s, err = start(0, searchattr.All)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if got := s.HistoryShards(); got != 4 {
		t.Errorf("history shards after restart = %d, want 4", got)
	}
	c = dial(t, s)
	desc, err := c.DescribeWorkflowExecution(ctx, "pg-survives-restart", run.GetRunID())
	if err != nil {
		t.Fatalf("workflow lost across restart: %v", err)
	}
	if st := desc.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("status after restart = %v", st)
	}
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range searchattr.All {
		if got, ok := sas.GetCustomAttributes()[name]; !ok || got != typ {
			t.Errorf("search attribute %s = %v (present %v) after restart, want %v", name, got, ok, typ)
		}
	}
	// The attribute added at restart works in queries.
	if err := c.TerminateWorkflow(ctx, "pg-survives-restart", "", "test done"); err != nil {
		t.Fatal(err)
	}
	id = runThreeSteps(t, c)
	if n := countWorkflows(t, c, fmt.Sprintf(`WorkflowId = %q AND ObflowDagStage IS NULL AND ObflowDagState = "SUCCEED"`, id), 1); n != 1 {
		t.Fatalf("query on the attribute added at restart found %d workflows, want 1", n)
	}
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	level = nil

	// Another shard count for the existing store: a clear error, and the
	// store is left as it was.
	s, err = start(8, searchattr.All)
	var se *devserver.ShardCountError
	if !errors.As(err, &se) {
		if s != nil {
			_ = s.Stop()
		}
		t.Fatalf("start with 8 shards on a 4-shard store: err = %v, want ShardCountError", err)
	}
	if se.Have != 4 || se.Want != 8 || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), password) {
		t.Errorf("error = %q (have %d, want %d)", err, se.Have, se.Want)
	}

	// The password never reaches the server log.
	logText, err := os.ReadFile(dataDir + "/" + devserver.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logText), password) || strings.Contains(string(logText), url.QueryEscape(password)) {
		t.Error("server log holds the database password")
	}
	if !strings.Contains(string(logText), postgresDebugLine) {
		t.Errorf("server log has no %q: the debug start did not log", postgresDebugLine)
	}
}

// TestPostgresUnreachable checks a database that cannot be reached fails
// the start with an error naming it, without the password.
func TestPostgresUnreachable(t *testing.T) {
	port, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	const password = "s3cret-pw"
	dbURL := fmt.Sprintf("postgres://obflow:%s@127.0.0.1:%d/obflow?sslmode=disable&connect_timeout=5", password, port)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), DatabaseURL: dbURL, Headless: true})
	if err == nil {
		_ = s.Stop()
		t.Fatal("started on a database nobody listens for")
	}
	var se *devserver.StoreError
	if !errors.As(err, &se) || strings.Contains(err.Error(), password) ||
		!strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Fatalf("err = %v, want a StoreError naming the address without the password", err)
	}
}

func dial(t *testing.T, s *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort: s.HostPort(), DataConverter: s.DataConverter(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// countWorkflows runs a list query until it finds want workflows (the
// visibility store is updated asynchronously) or 10 s have passed.
func countWorkflows(t *testing.T, c client.Client, query string, want int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("query %s: %v", query, err)
		}
		n := len(resp.GetExecutions())
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postgresDebugLine is in the server log at debug level: the schema tool's
// report on the current schema.
const postgresDebugLine = "found zero updates"

// createRole adds a login role without CREATEDB and returns its URL.
func createRole(t *testing.T, dbURL, name, password string) *url.URL {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "postgres"
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN NOCREATEDB PASSWORD '%s'`, name, password)); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(name, password)
	return u
}

// schemaVersion reads the version Temporal's schema tool recorded.
func schemaVersion(t *testing.T, dbURL, db string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = db
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, `SELECT curr_version FROM schema_version WHERE db_name = $1`, db).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
