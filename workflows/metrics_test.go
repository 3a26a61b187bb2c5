package workflows

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/metrics"
	"github.com/obflow/obflow/internal/obcluster"
)

// TestMetricsOfFailedAndRolledBackDag: a DAG whose stage 5 fails and that an operator rolls back
// an hour later is counted once as started and once as finished SUCCEED/ROLLBACK, lasted that
// hour by the workflow's clock, and has one duration per stage execution: stages 1–4 run and
// succeeded, stage 5 ran and failed, stages 3 and 2 (the ones with a compensation) rolled back.
func TestMetricsOfFailedAndRolledBackDag(t *testing.T) {
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	env, _ := newEnv(t, scenario{
		fail:    map[string]error{"5-run-1-" + master: nonRetryable("MySQL.Error", "MySQL error: table exists")},
		metrics: m.TemporalHandler(),
	})
	rb := operate(env, time.Hour, obcluster.OperatorRollback.String())
	env.ExecuteWorkflow(InitializeClusterName, testInput(t, testTopology(), PlanOptions{}))
	wantAccepted(t, "ROLLBACK", rb)
	if r := result(t, env); r.State != obcluster.StateSucceed || r.Operator != obcluster.OperatorRollback {
		t.Fatalf("result %+v", r)
	}

	hs := httptest.NewServer(m.Handler())
	defer hs.Close()
	snap, err := metrics.Scrape(context.Background(), hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The test environment does not tag as a worker does (workflow_type, task_queue: see
	// TestDemoMetrics in cmd/obflow); it runs one DAG here.
	if got := snap.Sum(MetricDagStarted, nil); got != 1 {
		t.Errorf("%s = %v, want 1", MetricDagStarted, got)
	}
	finished := map[string]string{"state": "SUCCEED", "operator": "ROLLBACK"}
	if got, all := snap.Sum(MetricDagFinished, finished), snap.Sum(MetricDagFinished, nil); got != 1 || all != 1 {
		t.Errorf("%s%v = %v (all: %v), want 1", MetricDagFinished, finished, got, all)
	}
	if h := snap.Histogram(MetricDagDuration, finished); h.Count != 1 || h.Sum < time.Hour.Seconds() {
		t.Errorf("%s: %+v, want one DAG of at least an hour", MetricDagDuration, h)
	}

	type key struct{ stage, kind, state string }
	want := map[key]uint64{
		{activities.IntegrateConfigName, "run", "SUCCEED"}:    1,
		{activities.CreateWorkdirName, "run", "SUCCEED"}:      1,
		{activities.StartObserverName, "run", "SUCCEED"}:      1,
		{activities.ClusterBootstrapName, "run", "SUCCEED"}:   1,
		{activities.MigrateTableName, "run", "FAILED"}:        1,
		{activities.StartObserverName, "rollback", "SUCCEED"}: 1,
		{activities.CreateWorkdirName, "rollback", "SUCCEED"}: 1,
	}
	got := map[key]uint64{}
	for _, ls := range snap.Series(MetricStageDuration) {
		got[key{ls["stage"], ls["kind"], ls["state"]}] += snap.Histogram(MetricStageDuration, ls).Count
	}
	if len(got) != len(want) {
		t.Errorf("stage executions %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("stage executions %+v: %d, want %d", k, got[k], n)
		}
	}
}
