// Package metrics serves the Prometheus metrics of an obflow process on one
// /metrics endpoint, from one client_golang registry: the Temporal SDK's own
// (through the SDK's OpenTelemetry contrib and OpenTelemetry's Prometheus
// exporter, which registers into that registry), obflow's (the API's
// request metrics, package api; the DAG engine's, package workflows, which
// go through the SDK's handler), and the Go runtime's and the process's.
//
// Scrape reads an endpoint back, for benchmarks and tests.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	otelmetric "go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Path is where the endpoint serves the metrics.
const Path = "/metrics"

// Buckets are the upper bounds, in seconds, of every timer obflow exports:
// the SDK's, the embedded Temporal server's and obflow's own. They span an API request
// (about 5 ms), a stage (15 ms to 1 s), a DAG (seconds) and a slow stage
// waiting on retries (minutes). OpenTelemetry's default bounds (0 to
// 10000) are meant for milliseconds and would put every timer in seconds
// into the first bucket.
var Buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// unitBuckets are the histogram bounds by OpenTelemetry unit: seconds for
// every timer, and for the Temporal server's other histograms sizes in
// bytes (1 KiB to 64 MiB) and counts, the latter as the server's own
// Prometheus reporter has them.
var unitBuckets = map[string][]float64{
	"s":  Buckets,
	"By": {1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20},
	"1":  {1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000},
}

// Metrics is one process's registry and the Temporal SDK's handler that
// feeds it. A nil *Metrics is valid and means metrics are off: its
// accessors return nil and Close does nothing.
type Metrics struct {
	reg      *prometheus.Registry
	provider *sdkmetric.MeterProvider
	temporal client.MetricsHandler
	srv      *http.Server
	addr     string
}

// New builds the registry and the SDK's metrics handler. logger receives
// the errors of instrument creation (the contrib's default is to panic).
func New(logger *slog.Logger) (*Metrics, error) {
	if logger == nil {
		logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// Series carry the SDK's own labels only: no otel_scope_* labels and
		// no target_info (Prometheus's instance label names the process).
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithReader(exp)}
	for unit, bounds := range unitBuckets {
		opts = append(opts, sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Unit: unit},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: bounds}},
		)))
	}
	provider := sdkmetric.NewMeterProvider(opts...)
	handler := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: provider.Meter("go.temporal.io/sdk"),
		// The SDK's counters only go up: exported as Prometheus counters
		// (_total), not gauges.
		UseMonotonicCounters: true,
		OnError:              func(err error) { logger.Warn("temporal sdk metric", "err", err) },
	})
	return &Metrics{reg: reg, provider: provider, temporal: handler}, nil
}

// Start is New plus Listen on addr; with addr "" metrics are off and it
// returns nil.
func Start(addr string, logger *slog.Logger) (*Metrics, error) {
	if addr == "" {
		return nil, nil
	}
	m, err := New(logger)
	if err != nil {
		return nil, err
	}
	if err := m.Listen(addr, logger); err != nil {
		return nil, err
	}
	return m, nil
}

// TemporalHandler is the handler for client.Options.MetricsHandler; nil
// when metrics are off (the SDK then records nothing).
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return m.temporal
}

// Meter is a meter of the registry's OpenTelemetry provider, for the embedded Temporal server's
// own metrics (devserver.Options.MetricsMeter); nil when metrics are off.
func (m *Metrics) Meter(name string) otelmetric.Meter {
	if m == nil {
		return nil
	}
	return m.provider.Meter(name)
}

// Registerer is where obflow's own collectors register; nil when metrics
// are off.
func (m *Metrics) Registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.reg
}

// Handler serves the registry in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Listen serves Handler on addr (host:port; port 0 picks a free one) at
// Path, in the background until Close.
func (m *Metrics) Listen(addr string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics address %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, m.Handler())
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.addr = ln.Addr().String()
	go func() {
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && logger != nil {
			logger.Error("metrics endpoint stopped", "addr", m.addr, "err", err)
		}
	}()
	return nil
}

// URL is the endpoint's address (http://host:port/metrics), "" if it does
// not listen.
func (m *Metrics) URL() string {
	if m == nil || m.addr == "" {
		return ""
	}
	return "http://" + m.addr + Path
}

// Close stops the endpoint.
func (m *Metrics) Close() error {
	if m == nil {
		return nil
	}
	var errs []error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		errs = append(errs, m.srv.Shutdown(ctx))
	}
	errs = append(errs, m.provider.Shutdown(context.Background()))
	return errors.Join(errs...)
}
