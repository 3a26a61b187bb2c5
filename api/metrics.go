package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/obflow/obflow/internal/metrics"
)

// The API's metrics (README, Metrics). Labels: agent (this agent's
// ip:port), method, route (Echo's route pattern such as
// /api/v1/task/dag/:id, never the raw path, so ids do not multiply the
// series; /* for unknown paths) and status (the HTTP status code).
const (
	MetricRequests        = "obflow_api_requests_total"
	MetricRequestDuration = "obflow_api_request_duration_seconds"
)

// requestMetrics counts and times every request.
type requestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// newRequestMetrics registers the API's collectors on reg under a constant
// agent label, so several agents of one process (obflow dev) share a
// registry without colliding.
func newRequestMetrics(reg prometheus.Registerer, agent string) (*requestMetrics, error) {
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"agent": agent}, reg)
	labels := []string{"method", "route", "status"}
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequests,
			Help: "HTTP requests to the obshell API, by method, route pattern and status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricRequestDuration,
			Help:    "Time from a request reaching the API until its response was written, by method, route pattern and status code.",
			Buckets: metrics.Buckets,
		}, labels),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api metrics of agent %s: %w", agent, err)
		}
	}
	return m, nil
}

// middleware runs outermost, so it sees every request, including those
// that auth rejected or that panicked (the recovery middleware's 500).
func (m *requestMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			// Rendered here rather than after the chain, so the status is known.
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "none"
		}
		lv := []string{method(c.Request().Method), route, status(c.Response().Status)}
		m.requests.WithLabelValues(lv...).Inc()
		m.duration.WithLabelValues(lv...).Observe(time.Since(start).Seconds())
		return nil
	}
}

// method keeps the label's values to the standard methods: a client may
// send any token as a method.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
		http.MethodPatch, http.MethodOptions:
		return m
	}
	return "OTHER"
}

func status(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusNoContent:
		return "204"
	}
	return strconv.Itoa(code)
}
