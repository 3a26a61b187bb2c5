package worker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/workflows"
)

// BenchmarkInitCluster3Hosts measures a whole "Initialize cluster" on three
// simulated hosts (no fault delays) with the workers as separate processes:
// the wall time of the DAG (start to result) and of each stage (first
// sub-task scheduled to last one finished, from history), as medians, plus
// the peak RSS of the coordinator and of one host worker.
func BenchmarkInitCluster3Hosts(b *testing.B) {
	var total []time.Duration
	perStage := map[int][]time.Duration{}
	var names []string
	var coordRSS, hostRSS int
	c := newCluster(b)
	c.startWorkers()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if i > 0 {
			// Fresh observers and homes on the same addresses.
			for _, h := range c.hosts {
				killObservers(h.HomePath)
			}
			fresh := newCluster(b)
			c.hosts = fresh.hosts
			for _, p := range append([]*proc{c.coord}, c.hostW...) {
				p.kill()
			}
			c.startWorkers()
		}
		b.StartTimer()
		start := time.Now()
		run, in := c.startInit(context.Background(), workflows.PlanOptions{})
		res := waitResult(b, run, 2*time.Minute)
		total = append(total, time.Since(start))
		b.StopTimer()
		if res.State != obcluster.StateSucceed {
			b.Fatalf("result %+v", res)
		}
		acts := activitiesOf(b, history(b, run))
		names = names[:0]
		for s := 1; s <= in.Plan.MaxStage(); s++ {
			names = append(names, in.Plan.Stages[s-1].Name)
			var first, last time.Time
			for _, id := range stageIDs(in, s, 1, workflows.KindRun) {
				r := acts[id]
				if first.IsZero() || r.Scheduled.Before(first) {
					first = r.Scheduled
				}
				if r.Done.After(last) {
					last = r.Done
				}
			}
			perStage[s] = append(perStage[s], last.Sub(first))
		}
		coordRSS = max(coordRSS, c.coord.rss())
		hostRSS = max(hostRSS, c.hostW[0].rss())
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(median(total).Milliseconds()), "ms/init-median")
	for s := 1; s <= len(names); s++ {
		b.Logf("stage %2d %-34s median %6.1f ms", s, names[s-1], float64(median(perStage[s]).Microseconds())/1000)
	}
	b.Logf("init median %s over %d runs (min %s, max %s)", median(total), len(total), slices.Min(total), slices.Max(total))
	b.ReportMetric(float64(coordRSS)/1024, "MiB-coordinator-RSS")
	b.ReportMetric(float64(hostRSS)/1024, "MiB-host-worker-RSS")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
