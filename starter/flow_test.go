package starter_test

import (
	"bytes"
	"context"
	"github.com/obflow/obflow/internal/obcluster"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/devstack"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/starter"
)

// TestCreateClusterPythonCasing runs the whole flow as a library against a real dev stack (the
// embedded Temporal server, three agents with their workers and simulated observers on the
// starter package's addresses 127.0.4.x) with the Python SDK's request shapes, a global and a
// per-server observer config, and checks the result through the API.
func TestCreateClusterPythonCasing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dev stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Options{DataDir: t.TempDir(), FirstIP: "127.0.4.2", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		st.Stop()
		_ = devstack.StopObservers(st.Hosts, 10*time.Second)
	}()
	topo := st.Topology()
	topo.Global = map[string]string{"memory_limit": "6G"}
	topo.Servers[1].Config = map[string]string{"datafile_size": "2G"}

	var out bytes.Buffer
	s, err := starter.New(topo, starter.Options{
		Password: "Py-casing-1", PollEvery: 300 * time.Millisecond, Casing: hybridauth.CasingPython,
		View: starter.NewLineView(&out),
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.CreateCluster(ctx)
	t.Logf("progress:\n%s", out.String())
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	wantSteps := []string{"Join self", "Join 127.0.4.3:2886", "Join 127.0.4.4:2886", "Observer config (global)", "Observer config (127.0.4.3:2886)", "Cluster config", "Initialize cluster"}
	if len(res.Steps) != len(wantSteps) {
		t.Fatalf("steps = %d, want %d", len(res.Steps), len(wantSteps))
	}
	for i, w := range wantSteps {
		if !strings.HasPrefix(res.Steps[i].Step, w) || !res.Steps[i].Dag.IsSucceed() {
			t.Errorf("step %d = %q %s, want %q SUCCEED", i, res.Steps[i].Step, res.Steps[i].Dag.State, w)
		}
	}
	if res.Init.Name != starter.DagInitCluster || res.Init.Stage != 11 || res.Init.MaxStage != 11 {
		t.Errorf("init = %s stage %d/%d", res.Init.Name, res.Init.Stage, res.Init.MaxStage)
	}
	// After the flow, the master's client uses the root password (the candidate was adopted).
	if got := s.Master().Password(); got != "Py-casing-1" {
		t.Errorf("master client password %q", got)
	}
	// Every agent reports CLUSTER AGENT (each refreshes its view of the registry within a
	// moment of the init's last stage).
	for _, h := range st.Hosts {
		c, err := obshellclient.New(h.Agent())
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			info, err := c.Info(ctx)
			if err == nil && info.Identity == obcluster.IdentityClusterAgent {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: info %+v, %v", h.Agent(), info, err)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// A second run is refused plainly; with AcceptInitialized it reports the finished init.
	if _, err := s.CreateCluster(ctx); err == nil || !strings.Contains(err.Error(), "already initialized") {
		t.Errorf("second CreateCluster: %v", err)
	}
	again, err := starter.New(topo, starter.Options{Password: "Py-casing-1", AcceptInitialized: true})
	if err != nil {
		t.Fatal(err)
	}
	res2, err := again.CreateCluster(ctx)
	if err != nil || !res2.Resumed || res2.Init.GenericID != res.Init.GenericID {
		t.Errorf("AcceptInitialized: %+v, %v", res2, err)
	}
}
