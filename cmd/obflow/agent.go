package main

import (
	"context"
	"fmt"
	"github.com/obflow/obflow/internal/obcluster"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/api"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/temporalclient"
	"github.com/obflow/obflow/worker"
	"github.com/obflow/obflow/workflows"
)

type agentFlags struct {
	ip          string
	port        int
	homePath    string
	dataDir     string
	coordinator bool
	registry    string
	obVersion   string
	logLevel    string
	temporal    temporalclient.Config
	metricsAddr string
}

// newAgentCmd is `obflow agent`: one obshell-compatible agent per observer
// host — the HTTP API on ip:port, the host's worker, and optionally a
// coordinator worker.
func newAgentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an obshell-compatible agent: the HTTP API on <ip>:<port> and this host's worker",
		Long: `Run one agent for the observer whose home is --home-path, like obshell:
the obshell HTTP API (v2 auth) on --ip:--port, a worker on this host's task
queue (workdirs, starting and stopping the observer), and with --coordinator
also a coordinator worker (the DAG workflows, the cluster registry and the
cluster-level stages). All state lives in Temporal.

The agent's RSA key is created once in --data-dir (mode 0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAgent(cmd.Context(), f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.ip, "ip", "", "IP address of this host; the API listens on it (required)")
	fl.IntVar(&f.port, "port", obcluster.DefaultAgentPort, "API port")
	fl.StringVar(&f.homePath, "home-path", "", "observer home path on this host (required)")
	fl.StringVar(&f.dataDir, "data-dir", "", "agent data dir for its RSA key (default <home-path>/.obflow-agent)")
	fl.BoolVar(&f.coordinator, "coordinator", false, "also run a coordinator worker")
	fl.StringVar(&f.registry, "registry", workflows.DefaultRegistryID, "workflow id of the cluster registry (one per cluster)")
	fl.StringVar(&f.obVersion, "ob-version", api.DefaultOBVersion, "observer version this agent reports")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.temporal.AddFlags(fl)
	addMetricsFlag(fl, &f.metricsAddr)
	_ = cmd.MarkFlagRequired("ip")
	_ = cmd.MarkFlagRequired("home-path")
	return cmd
}

func runAgent(ctx context.Context, f agentFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if net.ParseIP(f.ip) == nil {
		return fmt.Errorf("--ip %q is not an IP address", f.ip)
	}
	home, err := filepath.Abs(f.homePath)
	if err != nil {
		return fmt.Errorf("--home-path: %w", err)
	}
	dataDir := f.dataDir
	if dataDir == "" {
		dataDir = filepath.Join(home, ".obflow-agent")
	}
	key, err := hybridauth.LoadOrCreateKey(filepath.Join(dataDir, "agent.key"))
	if err != nil {
		return err
	}

	mx, err := startMetrics(f.metricsAddr, logger)
	if err != nil {
		return err
	}
	defer mx.Close()
	f.temporal.MetricsHandler = mx.TemporalHandler()
	opts, err := f.temporal.Options(logger)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(f.ip, strconv.Itoa(f.port))
	opts.Identity = "obflow-agent@" + addr
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
	}
	defer c.Close()

	host, err := worker.NewHost(worker.HostConfig{
		Config: worker.Config{Client: c, Logger: logger},
		Host:   activities.HostIdentity{IP: f.ip, AgentPort: f.port, HomePath: home},
	})
	if err != nil {
		return err
	}
	workers := []sdkworker.Worker{host}
	if f.coordinator {
		coord, err := worker.NewCoordinator(worker.CoordinatorConfig{Config: worker.Config{Client: c, Logger: logger}})
		if err != nil {
			return err
		}
		workers = append(workers, coord)
	}

	srv, err := api.New(api.Config{
		IP: f.ip, Port: f.port, HomePath: home, OBVersion: f.obVersion,
		Client: c, DataConverter: opts.DataConverter, Key: key, RegistryID: f.registry, Logger: logger,
		Metrics: mx.Registerer(),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	logger.Info("agent listening", "addr", addr, "home", home, "coordinator", f.coordinator, "registry", f.registry)

	errc := make(chan error, 2)
	go func() { errc <- worker.Run(ctx, workers...) }()
	go func() { errc <- srv.Run(ctx, ln) }()
	err = <-errc
	if ctx.Err() == nil && err == nil {
		err = fmt.Errorf("agent stopped unexpectedly")
	}
	return err
}
