package metrics

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSDKHandlerOnEndpoint: what goes through the Temporal SDK's handler reaches /metrics under
// Prometheus's names (_total for counters, _seconds for timers, with Buckets), next to the Go
// runtime's and the process's, and Scrape reads it back.
func TestSDKHandlerOnEndpoint(t *testing.T) {
	m, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.HasPrefix(m.URL(), "http://127.0.0.1:") || !strings.HasSuffix(m.URL(), Path) {
		t.Fatalf("URL %q", m.URL())
	}
	h := m.TemporalHandler().WithTags(map[string]string{"workflow_type": "Initialize cluster"})
	h.Counter("temporal_workflow_completed").Inc(2)
	h.Counter("obflow_dag_started_total").Inc(1)
	for _, d := range []time.Duration{3 * time.Millisecond, 40 * time.Millisecond, 700 * time.Millisecond} {
		h.Timer("obflow_dag_stage_duration_seconds").Record(d)
	}

	snap, err := Scrape(context.Background(), m.URL())
	if err != nil {
		t.Fatal(err)
	}
	wt := map[string]string{"workflow_type": "Initialize cluster"}
	if got := snap.Sum("temporal_workflow_completed_total", wt); got != 2 {
		t.Errorf("temporal_workflow_completed_total = %v, want 2", got)
	}
	if got := snap.Sum("obflow_dag_started_total", wt); got != 1 {
		t.Errorf("obflow_dag_started_total = %v, want 1 (no doubled suffix)", got)
	}
	hist := snap.Histogram("obflow_dag_stage_duration_seconds", wt)
	if hist.Count != 3 || math.Abs(hist.Sum-0.743) > 1e-9 || len(hist.Buckets) != len(Buckets) {
		t.Fatalf("stage histogram %+v", hist)
	}
	for _, b := range hist.Buckets {
		want := map[float64]uint64{.0025: 0, .005: 1, .05: 2, .5: 2, 1: 3}
		if w, ok := want[b.UpperBound]; ok && b.Count != w {
			t.Errorf("bucket le=%v: %d, want %d", b.UpperBound, b.Count, w)
		}
	}
	if snap.Sum("go_goroutines", nil) <= 0 || snap.Sum("process_resident_memory_bytes", nil) <= 0 {
		t.Error("no Go runtime or process metrics")
	}
	for name, f := range snap {
		for _, mm := range f.GetMetric() {
			for _, l := range mm.GetLabel() {
				if strings.HasPrefix(l.GetName(), "otel_scope") {
					t.Fatalf("%s carries %s", name, l.GetName())
				}
			}
		}
	}
	if _, ok := snap["target_info"]; ok {
		t.Error("target_info is exported")
	}

	resp, err := http.Get(strings.TrimSuffix(m.URL(), Path) + "/other")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/other: %d", resp.StatusCode)
	}
}

func TestOffIsNil(t *testing.T) {
	m, err := Start("", nil)
	if err != nil || m != nil {
		t.Fatalf("Start(\"\") = %v, %v", m, err)
	}
	if m.TemporalHandler() != nil || m.Registerer() != nil || m.URL() != "" || m.Close() != nil {
		t.Fatal("a nil *Metrics is not off")
	}
}

func TestBusyAddress(t *testing.T) {
	m, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := strings.TrimSuffix(strings.TrimPrefix(m.URL(), "http://"), Path)
	if _, err := Start(addr, nil); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("second Start on %s: %v", addr, err)
	}
}

// TestQuantile checks the estimate against histogram_quantile's rules on known buckets.
func TestQuantile(t *testing.T) {
	h := Histogram{Count: 10, Sum: 1, Buckets: []Bucket{{0.01, 0}, {0.1, 8}, {1, 10}}}
	for _, c := range []struct{ q, want float64 }{
		{0.5, 0.01 + 0.09*5/8}, // rank 5 of the 8 in (0.01, 0.1]
		{0.8, 0.1},
		{0.9, 0.1 + 0.9*1/2}, // rank 9: 1 of the 2 in (0.1, 1]
		{1, 1},
	} {
		if got := h.Quantile(c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	over := Histogram{Count: 4, Buckets: []Bucket{{0.1, 1}, {1, 2}}} // two above every bound
	if got := over.Quantile(0.99); got != 1 {
		t.Errorf("above every bound: %v, want the highest bound 1", got)
	}
	if !math.IsNaN((Histogram{}).Quantile(0.5)) {
		t.Error("empty histogram has a quantile")
	}
	before := Histogram{Count: 2, Sum: 0.1, Buckets: []Bucket{{0.01, 0}, {0.1, 2}, {1, 2}}}
	d := h.Sub(before)
	if d.Count != 8 || d.Buckets[1].Count != 6 || d.Buckets[2].Count != 8 || math.Abs(d.Mean()-0.9/8) > 1e-12 {
		t.Errorf("Sub: %+v", d)
	}
}

// BenchmarkTemporalHandler is the cost of one SDK metric as the SDK records it: a tagged handler,
// the instrument looked up by name, one counter increment and one timer observation.
func BenchmarkTemporalHandler(b *testing.B) {
	m, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "obflow-coordinator", "workflow_type": "Initialize cluster"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Counter("temporal_workflow_completed").Inc(1)
			h.Timer("temporal_workflow_endtoend_latency").Record(3 * time.Millisecond)
		}
	})
}
