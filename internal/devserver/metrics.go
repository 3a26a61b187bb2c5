package devserver

import (
	"fmt"

	otelmetric "go.opentelemetry.io/otel/metric"
	"go.temporal.io/server/common/log"
	servermetrics "go.temporal.io/server/common/metrics"
	"go.temporal.io/server/temporal"
)

// meterProvider hands the server the caller's meter (servermetrics.OpenTelemetryProvider); the
// caller owns the exporter, so Stop has nothing to do.
type meterProvider struct{ meter otelmetric.Meter }

func (p meterProvider) GetMeter() otelmetric.Meter { return p.meter }
func (meterProvider) Stop(log.Logger)              {}

// metricsOption routes the server's own metrics to meter, timers in seconds, as the server's
// OpenTelemetry Prometheus reporter would export them.
func metricsOption(meter otelmetric.Meter, logger log.Logger) (temporal.ServerOption, error) {
	h, err := servermetrics.NewOtelMetricsHandler(logger, meterProvider{meter}, servermetrics.ClientConfig{}, true)
	if err != nil {
		return nil, fmt.Errorf("temporal server metrics: %w", err)
	}
	return temporal.WithCustomMetricsHandler(h), nil
}
