package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/obflow/obflow/internal/pgtest"
)

// TestStart checks the URL reaches a server on which the URL's user may
// create the URL's database, and that the database does not exist yet.
func TestStart(t *testing.T) {
	u := pgtest.Start(t)
	ctx := context.Background()
	if _, err := pgx.Connect(ctx, u); err == nil {
		t.Fatalf("database %s exists before anyone created it", pgtest.Database)
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgtest.Database); err != nil {
		t.Fatal(err)
	}
	c2, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect after create: %v", err)
	}
	_ = c2.Close(ctx)

	// A wrong password is refused: the server checks passwords.
	cfg.Password = "wrong"
	if c, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		c.Close(ctx)
		t.Fatal("wrong password accepted")
	}
}
