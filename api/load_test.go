package api

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obflow/obflow/hybridauth"
)

var (
	loadDuration = flag.Duration("load", 0, "run the GET /api/v1/task/dag/:id load test for this long (e.g. 10s)")
	loadClients  = flag.Int("load-clients", 32, "concurrent clients of the load test")
)

// loadFigures are the results of one load run.
type loadFigures struct {
	requests int
	errors   int
	perSec   float64
	p50, p99 time.Duration
	// loadAvg is the machine's load average before and after the run: the
	// machine is shared, so a figure means little without it.
	loadBefore, loadAfter string
}

func (f loadFigures) String() string {
	return fmt.Sprintf("%d requests (%d errors), %.0f req/s, p50 %v, p99 %v (load average %s before, %s after)",
		f.requests, f.errors, f.perSec, f.p50.Round(10*time.Microsecond), f.p99.Round(10*time.Microsecond), f.loadBefore, f.loadAfter)
}

// loadAverage is the 1, 5 and 15 minute load average from /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// runLoad has `clients` clients send authenticated GETs of uri to addr for
// d, each with a fresh SDK-style header (RSA-encrypted, so the client-side
// cost is included, as with real SDK clients on the same machine).
func runLoad(t *testing.T, addr, pubB64, uri, pwd string, clients int, d time.Duration) loadFigures {
	t.Helper()
	pub, err := hybridauth.ParsePublicKey(pubB64)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		wg        sync.WaitGroup
	)
	before := loadAverage()
	deadline := time.Now().Add(d)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for time.Now().Before(deadline) {
				h, err := hybridauth.EncryptHeader(pub, hybridauth.ClientHeader{Auth: pwd, Ts: hybridauth.ExpiryTs(time.Now(), time.Minute), Uri: uri}, hybridauth.CasingGo)
				if err != nil {
					bad++
					continue
				}
				req, _ := http.NewRequest("GET", "http://"+addr+uri, nil)
				req.Header.Set(hybridauth.HeaderName, h)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != 200 {
					bad++
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	f := loadFigures{requests: len(latencies), errors: errs, perSec: float64(len(latencies)) / elapsed.Seconds(),
		loadBefore: before, loadAfter: loadAverage()}
	if n := len(latencies); n > 0 {
		f.p50, f.p99 = latencies[n/2], latencies[n*99/100]
	}
	return f
}

// rssMB reads this process's resident set size.
func rssMB() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:"))
		}
	}
	return "?"
}

// loadFinishedDag is the benchmark of the issue, run by
// TestGoSDKCreateCluster with -load 10s while its agents are up and every
// host worker is stopped: authenticated GET /api/v1/task/dag/:id of the
// finished 3-host init DAG, 32 clients. Target: ≥ 1,000 req/s, p99 < 25 ms.
func loadFinishedDag(t *testing.T, addr, pub, id, pwd string) {
	t.Helper()
	f := runLoad(t, addr, pub, "/api/v1/task/dag/"+id, pwd, *loadClients, *loadDuration)
	t.Logf("LOAD finished init DAG, %d clients, %v: %s; test process RSS %s (embedded Temporal server, 3 agents and this load generator together)",
		*loadClients, *loadDuration, f, rssMB())
	if f.errors > 0 {
		t.Errorf("%d failed requests", f.errors)
	}
	if f.perSec < 1000 || f.p99 > 25*time.Millisecond {
		t.Errorf("below target (≥ 1000 req/s, p99 < 25 ms): %s", f)
	}
}
