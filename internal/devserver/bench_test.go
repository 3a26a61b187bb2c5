package devserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/pgtest"
)

// BenchmarkStart measures server start to the first answered client call
// (dial and DescribeNamespace), on a new store and on restart of an
// existing one, for SQLite and PostgreSQL (4 history shards). Stopping is
// not timed.
//
//	go test -run '^$' -bench BenchmarkStart -benchtime 5x ./internal/devserver
func BenchmarkStart(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		b.Run("new", func(b *testing.B) {
			benchStart(b, func(int) devserver.Options { return devserver.Options{DataDir: b.TempDir()} })
		})
		b.Run("restart", func(b *testing.B) {
			dir := b.TempDir()
			opts := func(int) devserver.Options { return devserver.Options{DataDir: dir} }
			startStop(b, opts(0))
			benchStart(b, opts)
		})
	})
	b.Run("postgres", func(b *testing.B) {
		base, err := url.Parse(pgtest.Start(b))
		if err != nil {
			b.Fatal(err)
		}
		dataDir := b.TempDir()
		pg := func(db string) devserver.Options {
			u := *base
			u.Path = "/" + db
			return devserver.Options{DataDir: dataDir, DatabaseURL: u.String(), HistoryShards: 4}
		}
		// Benchmark functions may run more than once: every database name
		// is new.
		n := 0
		b.Run("new", func(b *testing.B) {
			benchStart(b, func(int) devserver.Options { n++; return pg(fmt.Sprintf("new%d", n)) })
		})
		b.Run("restart", func(b *testing.B) {
			n++
			db := fmt.Sprintf("restart%d", n)
			opts := func(int) devserver.Options { return pg(db) }
			startStop(b, opts(0))
			benchStart(b, opts)
		})
	})
}

func benchStart(b *testing.B, opts func(i int) devserver.Options) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		o := opts(i)
		o.Headless = true
		startStop(b, o)
	}
}

// startStop starts a server, makes the first client call and stops the
// server; only the stop is outside the timer.
func startStop(b *testing.B, o devserver.Options) {
	b.Helper()
	o.Headless = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := devserver.Start(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort: s.HostPort(), DataConverter: s.DataConverter(),
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err == nil {
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.Namespace()})
		c.Close()
	}
	b.StopTimer()
	_ = s.Stop()
	b.StartTimer()
	if err != nil {
		b.Fatal(err)
	}
}
