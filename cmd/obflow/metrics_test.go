package main

import (
	"context"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/api"
	"github.com/obflow/obflow/internal/devstack"
	"github.com/obflow/obflow/internal/metrics"
	"github.com/obflow/obflow/workflows"
)

var reMetrics = regexp.MustCompile(`^Metrics\s+(http://\S+)`)

// TestDemoMetrics runs `obflow demo --metrics-addr` and, once the cluster is created, reads its
// one endpoint back: the API's requests by route and status with their latencies, the DAGs
// started and finished, the init DAG's stage durations, the Temporal SDK's own metrics of the
// same run, each with the values this flow must produce, and the embedded server's metrics.
func TestDemoMetrics(t *testing.T) {
	dir := t.TempDir()
	first := "127.0.0.70"
	p := start(t, nil, append([]string{"demo", "--metrics-addr", "127.0.0.1:0"}, devArgs(dir, first)...)...)
	var hosts []devstack.Host
	for _, ip := range []string{"127.0.0.70", "127.0.0.71", "127.0.0.72"} {
		hosts = append(hosts, devstack.Host{IP: ip, Home: dir + "/hosts/" + ip})
	}
	t.Cleanup(func() { _ = devstack.StopObservers(hosts, 10*time.Second) })
	url := p.waitFor(reMetrics, 5*time.Minute)[1]
	p.waitFor(reInitDone, 5*time.Minute)
	p.waitFor(regexp.MustCompile(`^The stack stays up`), time.Minute)

	snap, err := metrics.Scrape(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, labels map[string]string, ok func(float64) bool, want string) {
		t.Helper()
		if got := snap.Sum(name, labels); !ok(got) {
			t.Errorf("%s%v = %v, want %s", name, labels, got, want)
		}
	}
	eq := func(w float64) func(float64) bool { return func(v float64) bool { return v == w } }
	atLeast := func(w float64) func(float64) bool { return func(v float64) bool { return v >= w } }

	// The API: the master got one init; the flow polled the DAGs.
	master := first + ":2886"
	initReq := map[string]string{"agent": master, "method": "POST", "route": "/api/v1/ob/init", "status": "200"}
	check(api.MetricRequests, initReq, eq(1), "1")
	check(api.MetricRequestDuration+"_count", initReq, eq(1), "1")
	poll := map[string]string{"agent": master, "method": "GET", "route": "/api/v1/task/dag/:id", "status": "200"}
	polls := snap.Sum(api.MetricRequests, poll)
	if polls < 2 {
		t.Errorf("%s%v = %v, want the demo's polls (≥ 2)", api.MetricRequests, poll, polls)
	}
	h := snap.Histogram(api.MetricRequestDuration, poll)
	if float64(h.Count) != polls || h.Sum <= 0 || !(h.Quantile(0.5) > 0) {
		t.Errorf("latency histogram of %v: count %d (requests %v), sum %v, p50 %v", poll, h.Count, polls, h.Sum, h.Quantile(0.5))
	}

	// The DAGs: every DAG the flow started finished, the init DAG once with SUCCEED.
	initDag := map[string]string{"workflow_type": workflows.InitializeClusterName}
	check(workflows.MetricDagStarted, initDag, eq(1), "1")
	check(workflows.MetricDagFinished, map[string]string{"workflow_type": workflows.InitializeClusterName, "state": "SUCCEED", "operator": "RUN"}, eq(1), "1")
	check(workflows.MetricDagFinished, map[string]string{"state": "FAILED"}, eq(0), "0")
	started := snap.Sum(workflows.MetricDagStarted, nil)
	check(workflows.MetricDagFinished, nil, eq(started), "as many as started")
	if started < 5 { // join self, two joins to the master, observer config, cluster config, init
		t.Errorf("%s = %v, want the flow's DAGs (≥ 5)", workflows.MetricDagStarted, started)
	}
	dagTime := snap.Histogram(workflows.MetricDagDuration, initDag)
	if dagTime.Count != 1 || dagTime.Sum <= 0 {
		t.Errorf("%s%v: %+v", workflows.MetricDagDuration, initDag, dagTime)
	}

	// Stages: each of the init DAG's 11 stages ran once and succeeded (Synchronize agent twice,
	// as stage 9 and 11), and their durations tile the DAG's: a stage starts in the workflow task
	// that saw the previous one end.
	type stageWant struct{ runs, subTasks float64 }
	want := map[string]stageWant{
		activities.IntegrateConfigName: {1, 1}, activities.CreateWorkdirName: {1, 3},
		activities.StartObserverName: {1, 3}, activities.ClusterBootstrapName: {1, 1},
		activities.MigrateTableName: {1, 1}, activities.ModifyPasswordName: {1, 1},
		activities.MigrateDataName: {1, 1}, activities.ConvertFollowerName: {1, 1},
		activities.SyncAgentName: {2, 6}, activities.ConvertMasterName: {1, 1},
	}
	var stageSum float64
	seen := map[string]bool{}
	for _, ls := range snap.Series(workflows.MetricStageDuration) {
		if ls["workflow_type"] != workflows.InitializeClusterName {
			continue
		}
		if ls["kind"] != "run" || ls["state"] != "SUCCEED" {
			t.Errorf("init stage series %v: want kind run, state SUCCEED", ls)
		}
		seen[ls["stage"]] = true
		sh := snap.Histogram(workflows.MetricStageDuration, ls)
		if w, ok := want[ls["stage"]]; !ok || float64(sh.Count) != w.runs || sh.Sum <= 0 {
			t.Errorf("stage %q: %d executions (%v s), want %v", ls["stage"], sh.Count, sh.Sum, w.runs)
		}
		stageSum += sh.Sum
	}
	for st := range want {
		if !seen[st] {
			t.Errorf("no duration of init stage %q", st)
		}
	}
	if math.Abs(stageSum-dagTime.Sum) > 1e-6 {
		t.Errorf("stages took %v s in all, the DAG %v s", stageSum, dagTime.Sum)
	}

	// The Temporal SDK's own, from the same client: the init workflow completed once, and every
	// stage's activity ran once per sub-task.
	check("temporal_workflow_completed_total", initDag, eq(1), "1")
	for st, w := range want {
		check("temporal_activity_execution_latency_seconds_count", map[string]string{"activity_type": st}, atLeast(w.subTasks), "one per sub-task")
	}
	check("temporal_request_total", nil, atLeast(1), ">= 1")
	check("temporal_request_latency_seconds_count", nil, atLeast(1), ">= 1")
	// The embedded Temporal server's own, on the same endpoint.
	check("service_requests_total", map[string]string{"service_name": "frontend"}, atLeast(1), ">= 1")
	check("persistence_requests_total", nil, atLeast(1), ">= 1")
	if h := snap.Histogram("service_latency_seconds", map[string]string{"service_name": "history"}); h.Count == 0 {
		t.Error("no history service latencies")
	}
	if t.Failed() {
		t.Logf("series of %s: %v", workflows.MetricStageDuration, snap.Series(workflows.MetricStageDuration))
	}
	names := make([]string, 0, len(snap))
	for n := range snap {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d metric families: %s", len(names), strings.Join(names, " "))
	if code := p.interrupt(time.Minute); code != 0 && code != 130 {
		t.Errorf("demo exited %d on Ctrl-C", code)
	}
}

// testServerMetrics: `obflow server --metrics-addr` serves the embedded server's own metrics;
// starting it made frontend and persistence requests (namespace, search attributes).
func testServerMetrics(t *testing.T, bin string) {
	srv := startServer(t, bin, append(freeServerPorts(t).args(t.TempDir()), "--headless", "--metrics-addr", "127.0.0.1:0"))
	var url string
	for url == "" {
		select {
		case line := <-srv.lines:
			if m := regexp.MustCompile(`^Metrics:\s+(http://\S+)`).FindStringSubmatch(line); m != nil {
				url = m[1]
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no Metrics: line")
		}
	}
	snap, err := metrics.Scrape(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Sum("service_requests_total", map[string]string{"service_name": "frontend", "operation": "DescribeNamespace"}); got < 1 {
		t.Errorf("frontend DescribeNamespace requests: %v", got)
	}
	if h := snap.Histogram("persistence_latency_seconds", nil); h.Count == 0 || len(h.Buckets) != len(metrics.Buckets) {
		t.Errorf("persistence latencies: %d observations in %d buckets", h.Count, len(h.Buckets))
	}
	stopServer(t, srv)
}
