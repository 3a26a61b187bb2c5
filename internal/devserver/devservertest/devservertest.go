// Package devservertest gives a test package one embedded Temporal dev
// server (with Web UI and codec endpoint), started once for all its tests on
// free 127.0.0.1 ports in a temporary data dir:
//
//	func TestMain(m *testing.M) { devservertest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		c := devservertest.NewClient(t, client.Options{})
//		w := worker.New(c, taskqueue.Coordinator, worker.Options{})
//		...
//	}
//
// NewClient dials the server with its AES payload codec (as every obflow
// process does) unless the options carry another DataConverter, and closes
// the client when the test ends. Server returns the running server for its
// addresses (HostPort, Namespace, UIURL, CodecEndpoint) and DataConverter.
//
// Tests share the server, so give workflows and task queues names unique to
// the test (e.g. from t.Name()). When the tests fail, the data dir, with
// the server log, is kept and its path printed.
package devservertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/obflow/obflow/internal/devserver"
)

var server *devserver.Server

// Main starts the server, runs the package's tests, stops the server and
// exits with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "obflow-devservertest-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "devservertest:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	s, err := devserver.Start(ctx, devserver.Options{
		DataDir: dir,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "devservertest: start dev server: %v (data dir %s kept)\n", err, dir)
		return 1
	}
	server = s

	code := m.Run()

	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "devservertest: stop dev server:", err)
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "devservertest: server data and log kept in %s\n", dir)
	} else {
		_ = os.RemoveAll(dir)
	}
	return code
}

// Server returns the running server. It panics when the package's TestMain
// does not call Main, since no test could work then.
func Server() *devserver.Server {
	if server == nil {
		panic("devservertest: no server; call devservertest.Main(m) from TestMain")
	}
	return server
}

// NewClient dials the test server. Empty HostPort and Namespace default to
// the server's, a nil DataConverter to the server's encrypting one, and a nil
// Logger to warnings on stderr. The client is closed when the
// test ends.
func NewClient(t testing.TB, opts client.Options) client.Client {
	t.Helper()
	s := Server()
	if opts.HostPort == "" {
		opts.HostPort = s.HostPort()
	}
	if opts.Namespace == "" {
		opts.Namespace = s.Namespace()
	}
	if opts.DataConverter == nil {
		opts.DataConverter = s.DataConverter()
	}
	if opts.Logger == nil {
		// Not t.Log: the SDK may still log from background goroutines after
		// the test has finished, and t.Log panics then.
		opts.Logger = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		t.Fatalf("devservertest: dial %s: %v", opts.HostPort, err)
	}
	t.Cleanup(c.Close)
	return c
}
