package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/internal/temporalclient"
	"github.com/obflow/obflow/worker"
)

// newCoordinatorWorkerCmd is `obflow worker`: a coordinator worker on its own (the DAG
// workflows, the cluster registry and the cluster-level stages), for deployments that scale it
// apart from the agents (docker-compose's coordinator service). Any number may run.
func newCoordinatorWorkerCmd() *cobra.Command {
	var (
		tc          temporalclient.Config
		logLevel    string
		metricsAddr string
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a coordinator worker: DAG workflows, the cluster registry and cluster-level stages",
		Long: `Polls the obflow-coordinator task queue until SIGINT/SIGTERM. Connects like every obflow
command (flags, else TEMPORAL_* from the environment) and needs the deployment's payload codec key
(--codec-key-file or OBFLOW_CODEC_KEY_FILE). Replicas share the queue.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			mx, err := startMetrics(metricsAddr, logger)
			if err != nil {
				return err
			}
			defer mx.Close()
			tc.MetricsHandler = mx.TemporalHandler()
			return runCoordinator(cmd.Context(), tc, logger)
		},
	}
	tc.AddFlags(cmd.Flags())
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	addMetricsFlag(cmd.Flags(), &metricsAddr)
	return cmd
}

func runCoordinator(ctx context.Context, tc temporalclient.Config, logger *slog.Logger) error {
	opts, err := tc.Options(logger)
	if err != nil {
		return err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", opts.HostPort, err)
	}
	defer c.Close()
	w, err := worker.NewCoordinator(worker.CoordinatorConfig{Config: worker.Config{Client: c, Logger: logger}})
	if err != nil {
		return err
	}
	logger.Info("coordinator worker polling", "temporal", opts.HostPort, "namespace", opts.Namespace)
	return worker.Run(ctx, w)
}
