package api

import (
	"context"
	"github.com/obflow/obflow/internal/obcluster"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/workflows"
)

// TestResetOfAFinishedDagShowsTheNewRun: a finished DAG is served from each agent's cache (its
// view and encoded DTOs); after `temporal workflow reset` starts a new run of it, every agent
// answers for that run within closedRecheckEvery, with and without details and in the lists.
func TestResetOfAFinishedDagShowsTheNewRun(t *testing.T) {
	needServer(t)
	coordinator := startCoordinator(t)
	hosts := startHosts(t, "registry-reset", "127.0.3.102", "127.0.3.103")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	master := newClient(t, hosts[0].addr(), hybridauth.CasingGo, "")
	dag, err := master.Join(ctx, obshell.JoinApiParam{AgentInfo: obcluster.Agent{IP: hosts[0].ip, Port: 2886}, ZoneName: "zone1"})
	done := waitOK(t, master, dag, err)
	clients := map[string]interface {
		GetDag(context.Context, string) (*obshell.DagDetailDTO, error)
		GetDagDetails(context.Context, string, bool) (*obshell.DagDetailDTO, error)
	}{hosts[0].addr(): master, hosts[1].addr(): newClient(t, hosts[1].addr(), hybridauth.CasingPython, "")}
	for addr, c := range clients {
		for _, details := range []bool{true, false} {
			if d, err := c.GetDagDetails(ctx, done.GenericID, details); err != nil || d.State != obcluster.StateSucceed {
				t.Fatalf("%s, details %v: %+v %v", addr, details, d, err)
			}
		}
	}

	// No worker: the new run stays where the reset put it, READY at stage 1.
	coordinator.Stop()
	for _, h := range hosts {
		h.worker.Stop()
		h.worker = nil
	}
	wid := workflows.WorkflowID(done.GenericID)
	var events []*historypb.HistoryEvent
	it := temporalClient.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	point, err := workflows.ResetPoint(events, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := temporalClient.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace: testNamespace, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid},
		Reason: "test: reset a finished DAG", WorkflowTaskFinishEventId: point,
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(closedRecheckEvery + 50*time.Millisecond)
	for addr, c := range clients {
		for _, details := range []bool{true, false} {
			d, err := c.GetDagDetails(ctx, done.GenericID, details)
			if err != nil || d.State != obcluster.StateReady || d.Stage != 1 {
				t.Errorf("%s, details %v, after the reset: %+v %v, want the new run READY at stage 1", addr, details, d, err)
			}
		}
	}
	list, err := master.GetAgentDags(ctx)
	if err != nil || len(list) != 1 || list[0].State != obcluster.StateReady {
		t.Errorf("dags/agent after the reset: %+v %v", list, err)
	}
}
