package dagview

import (
	"github.com/obflow/obflow/internal/obcluster"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/payloadcodec"
)

// The histories in testdata were recorded by the api package's tests
// (go test ./api -record) against the embedded server, with payloads
// encrypted by the codec key stored beside each (<name>.codec.key, a key
// of a throw-away test server).
func load(t *testing.T, name string) Input {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var h historypb.History
	if err := protojson.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	key, err := payloadcodec.LoadKey(filepath.Join("testdata", name+".codec.key"))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := payloadcodec.DataConverter(key)
	if err != nil {
		t.Fatal(err)
	}
	return Input{Events: h.Events, DataConverter: dc}
}

func translate(t *testing.T, name string) *View {
	t.Helper()
	in := load(t, name)
	v, err := Translate(in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Translate(in)
	if err != nil || !reflect.DeepEqual(v, again) {
		t.Fatalf("translation is not deterministic: %v", err)
	}
	checkIDs(t, v)
	return v
}

// checkIDs verifies the generic ids: nodes and sub-tasks share the DAG's
// prefix and agent, with ids derived from the DAG id.
func checkIDs(t *testing.T, v *View) {
	t.Helper()
	g, err := obshell.ParseGenericID(v.Dag.GenericID)
	if err != nil || g.ID != v.Dag.DagID || g.Agent.IP != v.Plan.Owner.IP {
		t.Fatalf("dag id %s: %+v %v", v.Dag.GenericID, g, err)
	}
	for i, n := range v.Dag.Nodes {
		want, _ := obshell.NodeID(v.Dag.DagID, i+1)
		if n.NodeID != want || n.GenericID != g.WithID(want).String() {
			t.Errorf("node %d id %d %s", i+1, n.NodeID, n.GenericID)
		}
		for j, s := range n.SubTasks {
			want, _ := obshell.SubTaskID(v.Dag.DagID, i+1, j)
			if s.TaskID != want || s.GenericID != g.WithID(want).String() {
				t.Errorf("sub-task %d/%d id %d", i+1, j, s.TaskID)
			}
			if s.ExecuteAgent.IP == "" {
				t.Errorf("sub-task %d/%d without execute_agent", i+1, j)
			}
			if s.State == obcluster.StateFailed && (len(s.TaskLogs) == 0 || !strings.HasPrefix(s.TaskLogs[len(s.TaskLogs)-1], "ERROR: [")) {
				t.Errorf("failed sub-task %d/%d logs %q", i+1, j, s.TaskLogs)
			}
		}
	}
}

func TestSuccess(t *testing.T) {
	v := translate(t, "init-success")
	d := v.Dag
	if !v.Closed || d.State != obcluster.StateSucceed || d.Operator != obcluster.OperatorRun || d.Stage != 11 || d.MaxStage != 11 || len(d.Nodes) != 11 {
		t.Fatalf("%s/%s stage %d/%d nodes %d closed %v", d.State, d.Operator, d.Stage, d.MaxStage, len(d.Nodes), v.Closed)
	}
	if d.Name != "Initialize cluster" || d.MaintenanceType != 2 || d.AdditionalData == nil {
		t.Fatalf("name %q maintenance %d additional_data %v", d.Name, d.MaintenanceType, d.AdditionalData)
	}
	for _, n := range d.Nodes {
		if n.State != obcluster.StateSucceed {
			t.Errorf("node %s %s", n.Name, n.State)
		}
		for _, s := range n.SubTasks {
			if s.State != obcluster.StateSucceed || s.ExecuteTimes < 1 || len(s.TaskLogs) == 0 || s.EndTime.Before(s.StartTime) {
				t.Errorf("node %s sub-task %+v", n.Name, s)
			}
			if rows := v.Logs[s.TaskID]; len(rows) != len(s.TaskLogs) {
				t.Errorf("node %s: %d log rows for %d lines", n.Name, len(rows), len(s.TaskLogs))
			}
		}
	}
	if len(d.Nodes[1].SubTasks) != 3 || len(d.Nodes[0].SubTasks) != 1 {
		t.Errorf("fan-out: %d and %d sub-tasks", len(d.Nodes[1].SubTasks), len(d.Nodes[0].SubTasks))
	}
	if s := v.Summary(); s.Nodes != nil || s.AdditionalData != nil || s.State != d.State {
		t.Errorf("summary %+v", s)
	}
}

func TestRolledBack(t *testing.T) {
	v := translate(t, "init-rolled-back")
	d := v.Dag
	if !v.Closed || d.State != obcluster.StateSucceed || d.Operator != obcluster.OperatorRollback || d.Stage != 1 {
		t.Fatalf("%s/%s stage %d", d.State, d.Operator, d.Stage)
	}
	// Start observer was compensated (Stop observer) on every host.
	for _, s := range d.Nodes[2].SubTasks {
		if s.Operator != obcluster.OperatorRollback || s.State != obcluster.StateSucceed || s.ExecuteTimes < 2 {
			t.Errorf("start observer after rollback: %s/%s %d", s.State, s.Operator, s.ExecuteTimes)
		}
	}
	// The failed bootstrap's logs are kept.
	logs := d.Nodes[3].SubTasks[0].TaskLogs
	if !strings.Contains(strings.Join(logs, "\n"), "simulated bootstrap failure") {
		t.Errorf("bootstrap logs %q", logs)
	}
}

func TestCanceled(t *testing.T) {
	v := translate(t, "init-canceled")
	d := v.Dag
	if v.Closed || d.State != obcluster.StateFailed || d.Operator != obcluster.OperatorCancel || d.Stage != 4 {
		t.Fatalf("%s/%s stage %d closed %v", d.State, d.Operator, d.Stage, v.Closed)
	}
	n := d.Nodes[3]
	if n.State != obcluster.StateFailed || n.Operator != obcluster.OperatorCancel {
		t.Fatalf("node %s %s/%s", n.Name, n.State, n.Operator)
	}
}

func TestRetried(t *testing.T) {
	v := translate(t, "init-retried")
	d := v.Dag
	if !v.Closed || d.State != obcluster.StateSucceed || d.Operator != obcluster.OperatorRun || d.Stage != 11 {
		t.Fatalf("%s/%s stage %d", d.State, d.Operator, d.Stage)
	}
	boot := d.Nodes[3].SubTasks[0]
	if boot.State != obcluster.StateSucceed || boot.ExecuteTimes < 2 || !strings.Contains(strings.Join(boot.TaskLogs, "\n"), "ERROR: [") {
		t.Fatalf("bootstrap after RETRY: %s, %d executions, logs %q", boot.State, boot.ExecuteTimes, boot.TaskLogs)
	}
}

func TestNodePassed(t *testing.T) {
	v := translate(t, "init-node-passed")
	d := v.Dag
	if v.Closed || d.State != obcluster.StateFailed || d.Operator != obcluster.OperatorCancel || d.Stage != 4 {
		t.Fatalf("%s/%s stage %d", d.State, d.Operator, d.Stage)
	}
	if n := d.Nodes[2]; n.State != obcluster.StateSucceed || n.Operator != obcluster.OperatorPass {
		t.Fatalf("passed node %s/%s", n.State, n.Operator)
	}
	if n := d.Nodes[3]; n.State != obcluster.StateFailed || n.Operator != obcluster.OperatorCancel {
		t.Fatalf("cancelled node %s/%s", n.State, n.Operator)
	}
}

// TestRunning uses a prefix of a history: the DAG as it was mid-way.
func TestRunning(t *testing.T) {
	in := load(t, "init-success")
	for i, ev := range in.Events {
		if ev.GetActivityTaskScheduledEventAttributes().GetActivityId() == "4-run-1-127.0.3.2:2886" {
			in.Events = in.Events[:i+1]
			break
		}
	}
	v, err := Translate(in)
	if err != nil {
		t.Fatal(err)
	}
	d := v.Dag
	if v.Closed || d.State != obcluster.StateRunning || d.Stage != 4 || d.Nodes[3].State != obcluster.StateRunning || d.Nodes[4].State != obcluster.StatePending || d.Nodes[2].State != obcluster.StateSucceed {
		t.Fatalf("mid-way: %s stage %d, nodes 3-5 %s %s %s", d.State, d.Stage, d.Nodes[2].State, d.Nodes[3].State, d.Nodes[4].State)
	}
	if d.Nodes[4].SubTasks[0].TaskLogs != nil {
		t.Errorf("pending sub-task has logs")
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Translate(Input{}); err == nil {
		t.Error("empty history accepted")
	}
	in := load(t, "init-success")
	in.Events = in.Events[1:]
	if _, err := Translate(in); err == nil {
		t.Error("history without its start event accepted")
	}
}

func TestNodeState(t *testing.T) {
	for _, c := range []struct {
		states  []obcluster.State
		current bool
		want    obcluster.State
	}{
		{[]obcluster.State{obcluster.StatePending, obcluster.StatePending}, true, obcluster.StatePending},
		{[]obcluster.State{obcluster.StateSucceed, obcluster.StateRunning}, true, obcluster.StateRunning},
		{[]obcluster.State{obcluster.StateSucceed, obcluster.StatePending}, true, obcluster.StateRunning},
		{[]obcluster.State{obcluster.StateSucceed, obcluster.StateFailed}, false, obcluster.StateFailed},
		{[]obcluster.State{obcluster.StateFailed, obcluster.StatePending}, false, obcluster.StateFailed},
		{[]obcluster.State{obcluster.StateSucceed, obcluster.StateSucceed}, false, obcluster.StateSucceed},
	} {
		ops := make([]obcluster.Operator, len(c.states))
		for i := range ops {
			ops[i] = obcluster.OperatorRun
		}
		if got, _ := nodeState(c.states, ops, c.current); got != c.want {
			t.Errorf("%v current=%v: %s, want %s", c.states, c.current, got, c.want)
		}
	}
}

// TestRemoveDags: the remove DAGs (recorded by the api's TestRemoveAgents)
// translate like the others: "Remove follower agent <ip:port>", whose
// workflow type carries the address, and "Remove all agents", whose first
// node fans out to every follower.
func TestRemoveDags(t *testing.T) {
	for _, c := range []struct {
		history  string
		name     string
		nodes    []string
		subTasks []int
	}{
		{"remove-follower-agent", "Remove follower agent 127.0.3.31:2886", []string{"Remove follower", "Remove follower agent 127.0.3.31:2886"}, []int{1, 1}},
		{"remove-all-agents", "Remove all agents", []string{"Remove follower", "Remove master"}, []int{2, 1}},
	} {
		v := translate(t, c.history)
		d := v.Dag
		if !v.Closed || d.Name != c.name || d.State != obcluster.StateSucceed || d.Operator != obcluster.OperatorRun || d.Stage != len(c.nodes) || d.MaxStage != len(c.nodes) || d.MaintenanceType != 2 {
			t.Fatalf("%s: %q %s/%s stage %d/%d maintenance %d closed %v", c.history, d.Name, d.State, d.Operator, d.Stage, d.MaxStage, d.MaintenanceType, v.Closed)
		}
		for i, n := range d.Nodes {
			if n.Name != c.nodes[i] || n.State != obcluster.StateSucceed || len(n.SubTasks) != c.subTasks[i] {
				t.Errorf("%s node %d: %q %s with %d sub-tasks", c.history, i+1, n.Name, n.State, len(n.SubTasks))
			}
			for _, s := range n.SubTasks {
				if s.State != obcluster.StateSucceed || s.ExecuteTimes != 1 || len(s.TaskLogs) < 2 {
					t.Errorf("%s node %q sub-task on %s: %s, %d executions, logs %q", c.history, n.Name, s.ExecuteAgent, s.State, s.ExecuteTimes, s.TaskLogs)
				}
			}
		}
	}
}
