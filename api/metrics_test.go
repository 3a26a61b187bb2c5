package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/metrics"
)

func withMetrics(reg prometheus.Registerer) func(*Config) {
	return func(c *Config) { c.Metrics = reg }
}

// TestRequestMetrics: every request is counted and timed under its route pattern (not its
// path), method and status, per agent, and two agents share one registry as in obflow dev.
func TestRequestMetrics(t *testing.T) {
	m, err := metrics.New(testLogger)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, uri := cachedDagServer(t, withMetrics(m.Registerer()))
	other := fuzzServer(t, withMetrics(m.Registerer()), func(c *Config) { c.IP = "127.0.3.31" })

	serve := func(s *Server, req *http.Request) int {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	authed := func(uri string) *http.Request {
		hv, err := hybridauth.EncryptHeader(s.cfg.Key.Public(), hybridauth.ClientHeader{Auth: fuzzPwd, Ts: hybridauth.ExpiryTs(time.Now(), time.Minute), Uri: uri}, hybridauth.CasingGo)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", uri, nil)
		req.Header.Set(hybridauth.HeaderName, hv)
		return req
	}
	for i := 0; i < 3; i++ {
		if code := serve(s, authed(uri)); code != 200 {
			t.Fatalf("GET %s: %d", uri, code)
		}
	}
	unauth := serve(s, httptest.NewRequest("GET", "/api/v1/task/dag/12345", nil))
	if unauth == 200 {
		t.Fatal("a DAG without auth header was served")
	}
	if code := serve(s, httptest.NewRequest("GET", "/no/such/route", nil)); code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
	serve(s, httptest.NewRequest("BREW", "/api/v1/info", nil))
	if code := serve(other, httptest.NewRequest("GET", "/api/v1/info", nil)); code != 200 {
		t.Fatalf("info of the other agent: %d", code)
	}

	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	snap, err := metrics.Scrape(context.Background(), hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	dag := "/api/v1/task/dag/:id"
	self, peer := "127.0.3.30:2886", "127.0.3.31:2886"
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"agent": self, "method": "GET", "route": dag, "status": "200"}, 3},
		{map[string]string{"agent": self, "method": "GET", "route": dag, "status": strconv.Itoa(unauth)}, 1},
		{map[string]string{"agent": self, "method": "GET", "route": "/*", "status": "404"}, 1},
		{map[string]string{"agent": self, "method": "OTHER"}, 1},
		{map[string]string{"agent": peer, "method": "GET", "route": "/api/v1/info", "status": "200"}, 1},
		{map[string]string{"agent": peer}, 1},
		{map[string]string{"agent": self}, 6},
	} {
		if got := snap.Sum(MetricRequests, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", MetricRequests, c.labels, got, c.want)
		}
		// The histogram counts the same requests.
		if got := snap.Sum(MetricRequestDuration+"_count", c.labels); got != c.want {
			t.Errorf("%s_count%v = %v, want %v", MetricRequestDuration, c.labels, got, c.want)
		}
	}
	for _, ls := range snap.Series(MetricRequests) {
		if strings.Contains(ls["route"], "12345") || strings.Contains(ls["route"], uri) {
			t.Errorf("a raw path became a route label: %v", ls)
		}
	}
	h := snap.Histogram(MetricRequestDuration, map[string]string{"agent": self, "route": dag, "status": "200"})
	if h.Count != 3 || h.Sum <= 0 || len(h.Buckets) != len(metrics.Buckets) {
		t.Fatalf("latency histogram of %s: %+v", dag, h)
	}
	// Cumulative buckets: non-decreasing, none above the count.
	var prev uint64
	for _, b := range h.Buckets {
		if b.Count < prev || b.Count > h.Count {
			t.Fatalf("buckets not cumulative: %+v", h.Buckets)
		}
		prev = b.Count
	}
}

// BenchmarkRequestMetricsMiddleware is the middleware's own cost per request: label lookup,
// counter and histogram, around a handler that does nothing.
func BenchmarkRequestMetricsMiddleware(b *testing.B) {
	m, err := newRequestMetrics(prometheus.NewRegistry(), "127.0.3.30:2886")
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	h := m.middleware(func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/api/v1/task/dag/123", nil)
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		for pb.Next() {
			c.Reset(req, rec)
			c.SetPath("/api/v1/task/dag/:id")
			if err := h(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
