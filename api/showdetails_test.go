package api

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/internal/obsim"
)

// TestShowDetailsOnTaskRoutes: every task route that lists or picks DAGs
// binds show_details as GET /task/dag/:id does and as obshell's
// TaskQueryParams (default true): absent (the Go SDK's default) and
// true/True (Python's) give nodes, sub-tasks and logs; false/False give
// none; anything else is 400. With an init failed at bootstrap, the Go
// SDK's GetFailedDagLastLog on GetAgentLastMaintenanceDag's DAG names the
// failed host and its error.
func TestShowDetailsOnTaskRoutes(t *testing.T) {
	needServer(t)
	startCoordinator(t)
	hosts := startHosts(t, "registry-details", "127.0.3.100", "127.0.3.101")
	master := prepareCluster(t, hosts, "obflow_details")
	fault := obsim.Faults{BootstrapError: &obsim.SQLErrorSpec{Code: 4179, Message: "simulated bootstrap failure"}}
	if err := obsim.WriteFaults(hosts[0].home, fault); err != nil {
		t.Fatal(err)
	}
	failed := initFails(t, master)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	last, err := master.GetAgentLastMaintenanceDag(ctx)
	if err != nil || last.GenericID != failed.GenericID {
		t.Fatalf("maintain/agent: %+v %v", last, err)
	}
	if logs := obshellclient.GetFailedDagLastLog(last); len(logs) != 1 || !strings.HasPrefix(logs[0], hosts[0].addr()+" ERROR: [") || !strings.Contains(logs[0], "simulated bootstrap failure") {
		t.Fatalf("GetFailedDagLastLog of the last maintenance DAG: %q", logs)
	}

	routes := []struct {
		path string
		list bool
	}{
		{"/api/v1/task/dag/" + failed.GenericID, false}, // the reference
		{"/api/v1/task/dag/maintain/agent", false},
		{"/api/v1/task/dag/maintain/ob", false},
		{"/api/v1/task/dag/maintain/agents", true},
		{"/api/v1/task/dag/unfinish", true},
		{"/api/v1/task/dag/agent/unfinish", true},
		{"/api/v1/task/dag/ob/unfinish", true},
		{"/api/v1/task/dags/agent", true},
		{"/api/v1/task/dags/ob", true},
	}
	queries := []struct {
		q       string // "" = no show_details
		details bool
	}{
		{"", true}, {"true", true}, {"True", true}, {"1", true},
		{"false", false}, {"False", false}, {"0", false},
	}
	clients := map[string]*obshellclient.Client{
		"go":     master,
		"python": newClient(t, hosts[0].addr(), hybridauth.CasingPython, rootPwd),
	}
	for _, r := range routes {
		t.Run(strings.TrimPrefix(r.path, "/api/v1/task/"), func(t *testing.T) {
			for casing, c := range clients {
				for _, q := range queries {
					var v url.Values
					if q.q != "" {
						v = url.Values{"show_details": {q.q}}
					}
					dags := getDags(ctx, t, c, r.path, v, r.list)
					found := false
					for _, d := range dags {
						found = found || d.GenericID == failed.GenericID
						checkDetails(t, casing+" "+q.q, d, q.details)
					}
					if !found {
						t.Errorf("%s show_details=%q: the failed init %s is not among %d DAGs", casing, q.q, failed.GenericID, len(dags))
					}
				}
			}
			var out any
			err := master.Get(ctx, r.path, url.Values{"show_details": {"maybe"}}, &out)
			wantAPIError(t, err, 400, "Common.IllegalArgument", "The input parameter 'show_details' is illegal: 'maybe' is not a boolean")
		})
	}
}

// getDags reads one DAG or a list of DAGs from path.
func getDags(ctx context.Context, t *testing.T, c *obshellclient.Client, path string, q url.Values, list bool) []*obshell.DagDetailDTO {
	t.Helper()
	if !list {
		var d obshell.DagDetailDTO
		if err := c.Get(ctx, path, q, &d); err != nil {
			t.Fatalf("GET %s?%s: %v", path, q.Encode(), err)
		}
		return []*obshell.DagDetailDTO{&d}
	}
	var out obshell.Contents[*obshell.DagDetailDTO]
	if err := c.Get(ctx, path, q, &out); err != nil {
		t.Fatalf("GET %s?%s: %v", path, q.Encode(), err)
	}
	return out.Contents
}

// checkDetails: with details a DAG has all its nodes, each with its
// sub-tasks, and a failed sub-task has its error as last log line;
// without, no nodes.
func checkDetails(t *testing.T, what string, d *obshell.DagDetailDTO, details bool) {
	t.Helper()
	if !details {
		if d.Nodes != nil {
			t.Errorf("%s: DAG %s %q has %d nodes, want none", what, d.GenericID, d.Name, len(d.Nodes))
		}
		return
	}
	if len(d.Nodes) != d.MaxStage {
		t.Errorf("%s: DAG %s %q has %d nodes, want %d", what, d.GenericID, d.Name, len(d.Nodes), d.MaxStage)
		return
	}
	for _, n := range d.Nodes {
		if len(n.SubTasks) == 0 {
			t.Errorf("%s: DAG %s node %q has no sub-tasks", what, d.GenericID, n.Name)
		}
		for _, st := range n.SubTasks {
			if st.IsFailed() && (len(st.TaskLogs) == 0 || !strings.HasPrefix(st.TaskLogs[len(st.TaskLogs)-1], "ERROR: [")) {
				t.Errorf("%s: failed sub-task %s has logs %q", what, st.GenericID, st.TaskLogs)
			}
		}
	}
}
