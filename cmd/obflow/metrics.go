package main

import (
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/obflow/obflow/internal/metrics"
)

// addMetricsFlag registers --metrics-addr, the same on every command that runs workers or
// the API.
func addMetricsFlag(fs *pflag.FlagSet, addr *string) {
	fs.StringVar(addr, "metrics-addr", "", "serve Prometheus metrics at http://<host:port>/metrics (Temporal SDK's and obflow's; off unless given)")
}

// startMetrics serves the process's metrics when addr is set; nil (metrics off) otherwise.
func startMetrics(addr string, logger *slog.Logger) (*metrics.Metrics, error) {
	m, err := metrics.Start(addr, logger)
	if err != nil || m == nil {
		return nil, err
	}
	logger.Info("serving metrics", "url", m.URL())
	return m, nil
}
