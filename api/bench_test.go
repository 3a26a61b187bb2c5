package api

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/obflow/obflow/internal/dagview"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/workflows"
)

// BenchmarkGetFinishedDag measures the agent's own cost of an
// authenticated GET /api/v1/task/dag/:id of a finished 3-host init DAG
// (header decryption, auth, replay check, cached DTO, envelope), without
// network or Temporal: the view comes from dagview's recorded history.
// Run with -short: go test ./api -short -run '^$' -bench GetFinishedDag.
// Each iteration also builds the client's header (RSA public-key
// encryption), as a client on the same machine would. metrics=on adds the
// request metrics middleware (a registry as --metrics-addr gives).
func BenchmarkGetFinishedDag(b *testing.B) {
	b.Run("metrics=off", func(b *testing.B) { benchGetFinishedDag(b) })
	b.Run("metrics=on", func(b *testing.B) { benchGetFinishedDag(b, withMetrics(prometheus.NewRegistry())) })
}

func benchGetFinishedDag(b *testing.B, opts ...func(*Config)) {
	s, uri := cachedDagServer(b, opts...)
	pub := s.cfg.Key.Public()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			hv, err := hybridauth.EncryptHeader(pub, hybridauth.ClientHeader{Auth: fuzzPwd, Ts: hybridauth.ExpiryTs(time.Now(), time.Minute), Uri: uri}, hybridauth.CasingGo)
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest("GET", uri, nil)
			req.Header.Set(hybridauth.HeaderName, hv)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
		}
	})
}

// cachedDagServer is an agent (CLUSTER AGENT, root password fuzzPwd, no
// Temporal) whose view cache holds the finished init DAG recorded in
// internal/dagview/testdata, as after its first GET; uri is that DAG's GET.
func cachedDagServer(tb testing.TB, opts ...func(*Config)) (*Server, string) {
	tb.Helper()
	s := fuzzServer(tb, opts...)
	data, err := os.ReadFile(filepath.Join("..", "internal", "dagview", "testdata", "init-success.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var h historypb.History
	if err := protojson.Unmarshal(data, &h); err != nil {
		tb.Fatal(err)
	}
	key, err := payloadcodec.LoadKey(filepath.Join("..", "internal", "dagview", "testdata", "init-success.codec.key"))
	if err != nil {
		tb.Fatal(err)
	}
	dc, _ := payloadcodec.DataConverter(key)
	v, err := dagview.Translate(dagview.Input{Events: h.Events, DataConverter: dc})
	if err != nil {
		tb.Fatal(err)
	}
	wid := workflows.WorkflowID(v.Dag.GenericID)
	// Checked far ahead: this agent has no Temporal to re-check the run with.
	s.views.keepClosed(wid, "recorded", v).checked.Store(time.Now().Add(24 * time.Hour).UnixNano())
	return s, "/api/v1/task/dag/" + v.Dag.GenericID
}

// BenchmarkRequestMetrics isolates the middleware's cost on the cheapest
// route, GET /api/v1/time (no auth, no Temporal).
func BenchmarkRequestMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			var opts []func(*Config)
			if on {
				opts = append(opts, withMetrics(prometheus.NewRegistry()))
			}
			s := fuzzServer(b, opts...)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/time", nil))
					if rec.Code != 200 {
						b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
					}
				}
			})
		})
	}
}
