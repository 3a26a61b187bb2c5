package obsim_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFigures measures what the README reports: time from launching the
// start command to ready (obshell's health check passing) and the RSS of an
// idle server. It fails only if the server does not come up.
func TestFigures(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.40", "zone1")
	start := time.Now()
	if out, err := h.launch(t, h.command("c1", "7")); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	launched := time.Since(start)
	h.waitReady(t, 60*time.Second)
	ready := time.Since(start)
	selectOne(t, open(t, "root", "", h.ip, ""))
	time.Sleep(2 * time.Second) // let it go idle
	pid, err := h.pid()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURES: start command returned after %v; ready (block_file + root login) after %v; idle RSS %s",
		launched.Round(time.Millisecond), ready.Round(time.Millisecond), rss(pid))
}

func rss(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "unknown"
}

// BenchmarkSelect1 measures SELECT 1 throughput over 50 connections to one
// simulated server (go test -bench Select1 ./obsim).
func BenchmarkSelect1(b *testing.B) {
	h := newHost(b, "127.0.1.41", "zone1")
	h.start(b)
	db := open(b, "root", "", h.ip, "")
	const conns = 50
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	// Open all connections before timing.
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := db.Conn(context.Background())
			if err != nil {
				b.Error(err)
				return
			}
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}()
	}
	wg.Wait()
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var one int
		for pb.Next() {
			if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}
