package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/metrics"
)

// DefaultDataDir is where `obflow server` keeps its state unless told
// otherwise; temporalclient.DefaultCodecKeyFile points into it.
const DefaultDataDir = ".obflow"

type serverFlags struct {
	dataDir   string
	ip        string
	port      int
	uiPort    int
	codecPort int
	headless  bool
	logLevel  string
	db        string
	// shards is 0 unless --history-shards was given: an existing store
	// keeps its own count.
	shards      int32
	metricsAddr string
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the embedded Temporal server with its Web UI (like `temporal server start-dev`)",
		Long: `Run a Temporal server in this process, with SQLite persistence in the data dir,
namespace "default", obflow's search attributes, and the Temporal Web UI.

With --db postgres://user:password@host:port/db the data goes to PostgreSQL
instead: databases db and db_visibility, created if missing (when the user may),
their schemas created or upgraded with Temporal's schema tool at every start.
--history-shards sets the shard count of a new store; a store keeps it forever.

Payloads are encrypted with the AES key in <data-dir>/codec.key (created on first
start); the UI decodes them through the codec endpoint on --codec-port. Other
obflow commands find the key with --codec-key-file or OBFLOW_CODEC_KEY_FILE.
The server's own log goes to <data-dir>/temporal.log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("history-shards") {
				f.shards = 0
			} else if f.shards < 1 {
				return fmt.Errorf("--history-shards %d: want 1 or more", f.shards)
			}
			return runServer(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", DefaultDataDir, "directory for the database, the server log and the codec key")
	fl.StringVar(&f.ip, "ip", devserver.DefaultIP, "IP address to bind the frontend, UI and codec endpoint on")
	fl.IntVar(&f.port, "port", 7233, "frontend gRPC port")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "Web UI port")
	fl.IntVar(&f.codecPort, "codec-port", 8234, "payload codec endpoint port (used by the Web UI)")
	fl.BoolVar(&f.headless, "headless", false, "run without the Web UI and codec endpoint")
	fl.StringVar(&f.logLevel, "log-level", "warn", "server log level: debug, info, warn or error")
	fl.StringVar(&f.db, "db", "", "PostgreSQL URL, postgres://user:password@host:port/db?sslmode=... (default: SQLite in the data dir)")
	addMetricsFlag(fl, &f.metricsAddr)
	fl.Int32Var(&f.shards, "history-shards", devserver.DefaultHistoryShards, "history shards of a new store (an existing store keeps its count; a different one is an error)")
	return cmd
}

func runServer(ctx context.Context, out io.Writer, f serverFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	began := time.Now()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	mx, err := metrics.Start(f.metricsAddr, logger)
	if err != nil {
		return err
	}
	defer mx.Close()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	s, err := devserver.Start(startCtx, devserver.Options{
		DataDir:       f.dataDir,
		DatabaseURL:   f.db,
		HistoryShards: f.shards,
		IP:            f.ip,
		Port:          f.port,
		UIPort:        f.uiPort,
		CodecPort:     f.codecPort,
		Headless:      f.headless,
		LogLevel:      &level,
		Logger:        logger,
		MetricsMeter:  mx.Meter("go.temporal.io/server"),
	})
	cancel()
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "Temporal server: %s (namespace %s), ready in %v\n", s.HostPort(), s.Namespace(), time.Since(began).Round(time.Millisecond))
	if f.db != "" {
		fmt.Fprintf(out, "Database:        %s (%d history shards)\n", s.Store(), s.HistoryShards())
	}
	if s.UIURL() != "" {
		fmt.Fprintf(out, "Temporal Web UI: %s\n", s.UIURL())
		fmt.Fprintf(out, "Codec endpoint:  %s\n", s.CodecEndpoint())
	}
	fmt.Fprintf(out, "Codec key:       %s\n", s.CodecKeyFile())
	fmt.Fprintf(out, "Server log:      %s\n", s.LogFile())
	if u := mx.URL(); u != "" {
		fmt.Fprintf(out, "Metrics:         %s\n", u)
	}

	<-ctx.Done()
	fmt.Fprintln(out, "Stopping (press Ctrl-C again to exit at once)")
	forceExitOnSignal()
	if err := s.Stop(); err != nil {
		return fmt.Errorf("stop server: %w", err)
	}
	return nil
}

// forceExitOnSignal exits at the next SIGINT/SIGTERM, for when a clean
// stop hangs.
func forceExitOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		fmt.Fprintln(os.Stderr, "obflow: interrupted during shutdown")
		os.Exit(130)
	}()
}
