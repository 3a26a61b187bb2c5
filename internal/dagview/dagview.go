// Package dagview translates a DAG workflow's Temporal event history into
// obshell's DagDetailDTO (CONTRACT.md §6.1): nodes, sub-tasks, states, operators,
// stage, times, execute_times, execute_agent and task_logs. It is a pure
// function of the events (plus DescribeWorkflowExecution's pending
// activities for the attempt and heartbeat logs of running sub-tasks), so
// the API answers from history alone, also while every worker is stopped.
//
// How the engine (package workflows) writes history:
//   - WorkflowExecutionStarted carries the Plan (DAG name, id, owner,
//     stages, targets) and the search attributes of a new DAG (READY/RUN/1);
//   - UpsertWorkflowSearchAttributes events publish the DAG's state,
//     operator and stage at every transition;
//   - every sub-task execution is one activity whose id is
//     "<stage>-<kind>-<round>-<agent>" (workflows.ActivityID);
//   - results and failure details carry the sub-task's log lines, a
//     failure's type is obshell's errCode;
//   - failures the workflow decides itself are SideEffect markers
//     (workflows.SubTaskFailure);
//   - operators are accepted Updates (PASS and PASS_NODE matter here).
package dagview

import (
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/searchattr"
	"github.com/obflow/obflow/workflows"
)

// Input is what Translate reads.
type Input struct {
	// Events is the workflow's full history, oldest first.
	Events []*historypb.HistoryEvent
	// Pending are the pending activities of DescribeWorkflowExecution, for
	// running sub-tasks (optional).
	Pending []*workflowpb.PendingActivityInfo
	// DataConverter decodes payloads (the payload codec's); nil means the
	// SDK's default converter.
	DataConverter converter.DataConverter
}

// View is a translated DAG.
type View struct {
	// Dag is the DTO with nodes and sub-tasks (show_details=true).
	Dag *obshell.DagDetailDTO
	// Closed is true once the workflow closed: the view never changes again.
	Closed bool
	Plan   workflows.Plan
	// Logs are the log rows of each sub-task (GET /task/sub_task/:id/logs),
	// keyed by sub-task id.
	Logs map[int64][]obshell.SubTaskLogDTO
}

// Summary is the DTO without nodes (show_details=false).
func (v *View) Summary() *obshell.DagDetailDTO {
	d := *v.Dag
	d.Nodes = nil
	d.AdditionalData = nil
	return &d
}

// Node returns the node of a node id, with its node-level additional data.
func (v *View) Node(nodeID int64) (*obshell.NodeDetailDTO, bool) {
	for _, n := range v.Dag.Nodes {
		if n.NodeID == nodeID {
			return n, true
		}
	}
	return nil, false
}

// SubTask returns the sub-task of a sub-task id.
func (v *View) SubTask(taskID int64) (*obshell.TaskDetailDTO, bool) {
	for _, n := range v.Dag.Nodes {
		for _, t := range n.SubTasks {
			if t.TaskID == taskID {
				return t, true
			}
		}
	}
	return nil, false
}

// execution is one activity: one run or rollback of one sub-task.
type execution struct {
	id        workflows.ActivityID
	scheduled time.Time
	started   time.Time
	closed    time.Time
	attempt   int32
	open      bool
	failed    bool
	canceled  bool
	logs      []logLine
}

type logLine struct {
	text string
	at   time.Time
}

// sub is one sub-task's replayed state.
type sub struct {
	execs    []*execution
	passed   bool
	passedAt time.Time
}

type translator struct {
	dc        converter.DataConverter
	plan      workflows.Plan
	subs      [][]*sub // [stage-1][host index]
	byEventID map[int64]*execution
	byID      map[string]*execution // latest execution per activity id
	status    workflows.DagStatus
	started   time.Time
	closedAt  time.Time
	closed    bool
}

// Translate builds the view of one DAG workflow's history.
func Translate(in Input) (*View, error) {
	if len(in.Events) == 0 {
		return nil, fmt.Errorf("empty history")
	}
	first := in.Events[0].GetWorkflowExecutionStartedEventAttributes()
	if first == nil {
		return nil, fmt.Errorf("history does not start with WorkflowExecutionStarted")
	}
	dc := in.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	plan, err := workflows.DecodePlan(first, dc)
	if err != nil {
		return nil, err
	}
	t := &translator{
		dc: dc, plan: plan,
		byEventID: map[int64]*execution{}, byID: map[string]*execution{},
		status:  workflows.DagStatus{State: obcluster.StateReady, Operator: obcluster.OperatorRun, Stage: 1, MaxStage: plan.MaxStage()},
		started: in.Events[0].GetEventTime().AsTime(),
	}
	t.subs = make([][]*sub, len(plan.Stages))
	for i, s := range plan.Stages {
		t.subs[i] = make([]*sub, len(s.Targets))
		for j := range t.subs[i] {
			t.subs[i][j] = &sub{}
		}
	}
	t.searchAttributes(first.GetSearchAttributes())
	for _, ev := range in.Events[1:] {
		t.event(ev)
	}
	t.pending(in.Pending)
	return t.view()
}

func (t *translator) searchAttributes(sa *commonpb.SearchAttributes) {
	def := converter.GetDefaultDataConverter()
	for name, p := range sa.GetIndexedFields() {
		switch name {
		case searchattr.DagState.GetName():
			var s string
			if def.FromPayload(p, &s) == nil {
				if st, ok := obcluster.ParseState(s); ok {
					t.status.State = st
				}
			}
		case searchattr.DagOperator.GetName():
			var s string
			if def.FromPayload(p, &s) == nil {
				if op, ok := obcluster.ParseOperator(s); ok {
					t.status.Operator = op
				}
			}
		case searchattr.DagStage.GetName():
			var n int64
			if def.FromPayload(p, &n) == nil && n >= 1 && int(n) <= t.plan.MaxStage() {
				t.status.Stage = int(n)
			}
		}
	}
}

// target finds the sub-task of an activity id.
func (t *translator) target(id workflows.ActivityID) *sub {
	if id.Stage < 1 || id.Stage > len(t.plan.Stages) {
		return nil
	}
	for j, tg := range t.plan.Stages[id.Stage-1].Targets {
		if tg.Agent == id.Agent {
			return t.subs[id.Stage-1][j]
		}
	}
	return nil
}

func (t *translator) event(ev *historypb.HistoryEvent) {
	at := ev.GetEventTime().AsTime()
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := ev.GetActivityTaskScheduledEventAttributes()
		id, err := workflows.ParseActivityID(a.GetActivityId())
		if err != nil {
			return
		}
		s := t.target(id)
		if s == nil {
			return
		}
		e := &execution{id: id, scheduled: at, open: true}
		s.execs = append(s.execs, e)
		t.byEventID[ev.GetEventId()] = e
		t.byID[a.GetActivityId()] = e
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		a := ev.GetActivityTaskStartedEventAttributes()
		if e := t.byEventID[a.GetScheduledEventId()]; e != nil {
			e.started, e.attempt = at, a.GetAttempt()
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := ev.GetActivityTaskCompletedEventAttributes()
		if e := t.byEventID[a.GetScheduledEventId()]; e != nil {
			e.open, e.closed = false, at
			var res struct {
				Logs []string `json:"logs"`
			}
			if a.GetResult() != nil && len(a.GetResult().GetPayloads()) > 0 {
				_ = t.dc.FromPayload(a.GetResult().GetPayloads()[0], &res)
			}
			e.addLogs(res.Logs, at)
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		a := ev.GetActivityTaskFailedEventAttributes()
		if e := t.byEventID[a.GetScheduledEventId()]; e != nil {
			e.open, e.closed, e.failed = false, at, true
			t.failure(e, a.GetFailure(), at)
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		a := ev.GetActivityTaskTimedOutEventAttributes()
		if e := t.byEventID[a.GetScheduledEventId()]; e != nil {
			e.open, e.closed, e.failed = false, at, true
			if d := a.GetFailure().GetTimeoutFailureInfo().GetLastHeartbeatDetails().GetPayloads(); len(d) > 0 {
				t.decodeLogs(e, d[0], at)
			}
			// The engine records why in a marker right after; this line is
			// the fallback when it could not.
			e.logs = append(e.logs, logLine{obshell.ExecuteErrorLog(workflows.ErrCodeExecuteTimeout, "sub task timeout"), at})
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		a := ev.GetActivityTaskCanceledEventAttributes()
		if e := t.byEventID[a.GetScheduledEventId()]; e != nil {
			e.open, e.closed, e.failed, e.canceled = false, at, true, true
			if d := a.GetDetails().GetPayloads(); len(d) > 0 {
				t.decodeLogs(e, d[0], at)
			}
			e.logs = append(e.logs, logLine{"sub task cancelled", at},
				logLine{obshell.ExecuteErrorLog(obshell.CodeCommonUnexpected.Code, "sub task cancelled"), at})
		}
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		f, ok, err := workflows.DecodeSubTaskFailure(ev.GetMarkerRecordedEventAttributes(), t.dc)
		if err != nil || !ok {
			return
		}
		t.markerFailure(f, at)
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		prev := t.status.Stage
		t.searchAttributes(ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes())
		// The ROLLBACK walk publishes stage s-1 once stage s is undone.
		if t.status.Operator == obcluster.OperatorRollback {
			for s := prev; s > t.status.Stage; s-- {
				t.noopRollback(s, at, false)
			}
		}
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
		in := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput()
		switch in.GetName() {
		case obcluster.OperatorRetry.String():
			// RETRY first rolls back the failed stage's failed sub-tasks.
			t.noopRollback(t.status.Stage, at, true)
		case obcluster.OperatorPass.String():
			for i := range t.subs {
				t.pass(i+1, at)
			}
		case workflows.UpdatePassNode:
			var stage int
			if p := in.GetArgs().GetPayloads(); len(p) == 1 && t.dc.FromPayload(p[0], &stage) == nil {
				t.pass(stage, at)
			}
		}
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		t.closed, t.closedAt = true, at
		var res workflows.DagResult
		if p := ev.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads(); len(p) > 0 && t.dc.FromPayload(p[0], &res) == nil && res.State != 0 {
			t.status.State, t.status.Operator = res.State, res.Operator
			if res.Stage >= 1 && res.Stage <= t.plan.MaxStage() {
				t.status.Stage = res.Stage
			}
			if res.State == obcluster.StateSucceed && res.Operator == obcluster.OperatorRollback {
				t.noopRollback(t.status.Stage, at, false) // the walk's last stage
			}
		}
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		t.closed, t.closedAt = true, at
		t.status.State, t.status.Operator = obcluster.StateFailed, obcluster.OperatorCancel
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		t.closed, t.closedAt = true, at
		if t.status.State != obcluster.StateSucceed {
			t.status.State = obcluster.StateFailed
		}
	}
}

// noopRollback records the compensation of a stage without a rollback
// activity (obshell's no-op Rollback()): the engine schedules nothing for
// it, but obshell still runs the sub-task with operator ROLLBACK and counts
// it in execute_times, so the view adds an execution that ended at once.
// Only sub-tasks that ran are rolled back; with failedOnly (RETRY), only
// those whose last run failed.
func (t *translator) noopRollback(stage int, at time.Time, failedOnly bool) {
	if stage < 1 || stage > len(t.plan.Stages) || t.plan.Stages[stage-1].Rollback != "" {
		return
	}
	for j, s := range t.subs[stage-1] {
		if len(s.execs) == 0 {
			continue
		}
		last := s.execs[len(s.execs)-1]
		if last.open || last.id.Kind == workflows.KindRollback || failedOnly && !last.failed {
			continue
		}
		id := workflows.ActivityID{Stage: stage, Kind: workflows.KindRollback, Round: last.id.Round, Agent: t.plan.Stages[stage-1].Targets[j].Agent}
		s.execs = append(s.execs, &execution{id: id, scheduled: at, started: at, closed: at, attempt: 1})
	}
}

// failure reads an activity failure: its log lines (details[0]) and the
// final "ERROR: [<errCode>]: <message>" line.
func (t *translator) failure(e *execution, f *failurepb.Failure, at time.Time) {
	code := obshell.CodeCommonUnexpected.Code
	if app := f.GetApplicationFailureInfo(); app != nil {
		if d := app.GetDetails().GetPayloads(); len(d) > 0 {
			var lines []string
			if t.dc.FromPayload(d[0], &lines) == nil {
				e.addLogs(lines, at)
			}
		}
		if isErrCode(app.GetType()) {
			code = app.GetType()
		}
	}
	msg := f.GetMessage()
	if msg == "" {
		msg = "sub task failed"
	}
	e.logs = append(e.logs, logLine{obshell.ExecuteErrorLog(code, msg), at})
}

// markerFailure applies a failure the workflow recorded itself. It
// replaces the fallback line of a timed-out activity, fails a completed
// one whose result was unusable, and creates the execution of a sub-task
// whose input could not be built.
func (t *translator) markerFailure(f workflows.SubTaskFailure, at time.Time) {
	line := logLine{obshell.ExecuteErrorLog(f.ErrCode, f.Message), at}
	e := t.byID[f.ActivityID]
	if e == nil {
		id, err := workflows.ParseActivityID(f.ActivityID)
		if err != nil {
			return
		}
		s := t.target(id)
		if s == nil {
			return
		}
		e = &execution{id: id, scheduled: at, started: at, closed: at, failed: true}
		s.execs = append(s.execs, e)
		t.byID[f.ActivityID] = e
		e.logs = append(e.logs, line)
		return
	}
	e.open, e.failed = false, true
	if e.closed.IsZero() {
		e.closed = at
	}
	if n := len(e.logs); n > 0 && strings.HasPrefix(e.logs[n-1].text, "ERROR: [") {
		e.logs[n-1] = line
		return
	}
	e.logs = append(e.logs, line)
}

func (t *translator) pass(stage int, at time.Time) {
	if stage < 1 || stage > len(t.subs) {
		return
	}
	for _, s := range t.subs[stage-1] {
		if st, _ := s.state(); st != obcluster.StateSucceed {
			s.passed, s.passedAt = true, at
		}
	}
}

// pending merges the attempt and heartbeat logs of running activities.
func (t *translator) pending(pending []*workflowpb.PendingActivityInfo) {
	for _, p := range pending {
		e := t.byID[p.GetActivityId()]
		if e == nil || !e.open {
			continue
		}
		e.attempt = p.GetAttempt()
		if ts := p.GetLastStartedTime(); ts != nil {
			e.started = ts.AsTime()
		}
		if d := p.GetHeartbeatDetails().GetPayloads(); len(d) > 0 {
			var lines []string
			if t.dc.FromPayload(d[0], &lines) == nil {
				at := e.started
				if hb := p.GetLastHeartbeatTime(); hb != nil {
					at = hb.AsTime()
				}
				e.addLogs(lines, at)
			}
		}
	}
}

// decodeLogs appends the log lines a payload carries ([]string).
func (t *translator) decodeLogs(e *execution, p *commonpb.Payload, at time.Time) {
	var lines []string
	if t.dc.FromPayload(p, &lines) == nil {
		e.addLogs(lines, at)
	}
}

func (e *execution) addLogs(lines []string, at time.Time) {
	for _, l := range lines {
		e.logs = append(e.logs, logLine{l, at})
	}
}

// state is the sub-task's obshell state and operator.
func (s *sub) state() (obcluster.State, obcluster.Operator) {
	if s.passed && (len(s.execs) == 0 || !s.execs[len(s.execs)-1].scheduled.After(s.passedAt)) {
		return obcluster.StateSucceed, obcluster.OperatorPass
	}
	if len(s.execs) == 0 {
		return obcluster.StatePending, obcluster.OperatorRun
	}
	e := s.execs[len(s.execs)-1]
	op := obcluster.OperatorRun
	if e.id.Kind == workflows.KindRollback {
		op = obcluster.OperatorRollback
	}
	switch {
	case e.open:
		return obcluster.StateRunning, op
	case e.canceled:
		return obcluster.StateFailed, obcluster.OperatorCancel
	case e.failed:
		return obcluster.StateFailed, op
	}
	return obcluster.StateSucceed, op
}

func isErrCode(t string) bool {
	return t != "" && strings.Contains(t, ".") && !strings.ContainsAny(t, "*/ ")
}

func (t *translator) view() (*View, error) {
	p := t.plan
	owner := p.Owner
	gid, err := obshell.LocalGenericID(owner, p.DagID)
	if err != nil {
		return nil, fmt.Errorf("generic id of DAG %d on %s: %w", p.DagID, p.Owner, err)
	}
	created := obshell.LocalTime(t.started)
	end := created
	if t.closed {
		end = obshell.LocalTime(t.closedAt)
	}
	dag := &obshell.DagDetailDTO{
		GenericID: gid.String(), DagID: p.DagID, Name: p.DagName,
		Stage: t.status.Stage, MaxStage: p.MaxStage(), MaintenanceType: p.MaintenanceType,
		TaskStatusDTO: obshell.TaskStatusDTO{State: t.status.State, Operator: t.status.Operator, StartTime: created, EndTime: end},
	}
	if len(p.Stages) > 1 {
		dag.AdditionalData = map[string]any{} // obshell's merge of no data over several nodes
	}
	v := &View{Dag: dag, Closed: t.closed, Plan: p, Logs: map[int64][]obshell.SubTaskLogDTO{}}
	dagRunning := !t.closed && (t.status.State == obcluster.StateRunning || t.status.State == obcluster.StateReady)
	for i, st := range p.Stages {
		stage := i + 1
		nodeID, err := obshell.NodeID(p.DagID, stage)
		if err != nil {
			return nil, err
		}
		node := &obshell.NodeDetailDTO{GenericID: gid.WithID(nodeID).String(), NodeID: nodeID, Name: st.Name}
		var states []obcluster.State
		var ops []obcluster.Operator
		nodeStart, nodeEnd := time.Time{}, time.Time{}
		for j, tg := range st.Targets {
			taskID, err := obshell.SubTaskID(p.DagID, stage, j)
			if err != nil {
				return nil, err
			}
			s := t.subs[i][j]
			state, op := s.state()
			states, ops = append(states, state), append(ops, op)
			task := &obshell.TaskDetailDTO{
				GenericID: gid.WithID(taskID).String(), TaskID: taskID, Name: st.Name,
				ExecuteAgent: tg.Agent,
			}
			start, stop := t.started, t.started
			var rows []obshell.SubTaskLogDTO
			for k, e := range s.execs {
				n := e.attempt
				if n < 1 {
					n = 1
				}
				task.ExecuteTimes += int(n)
				for _, l := range e.logs {
					task.TaskLogs = append(task.TaskLogs, l.text)
					rows = append(rows, obshell.SubTaskLogDTO{
						ID: int64(len(rows) + 1), SubTaskID: taskID, ExecuteTimes: k + 1, LogContent: l.text,
						CreateTime: obshell.LocalTime(l.at), UpdateTime: obshell.LocalTime(l.at),
					})
				}
			}
			if len(s.execs) > 0 {
				last := s.execs[len(s.execs)-1]
				start = last.scheduled
				if !last.started.IsZero() {
					start = last.started
				}
				stop = start
				if !last.open {
					stop = last.closed
				}
			}
			if s.passed && state == obcluster.StateSucceed && op == obcluster.OperatorPass {
				stop = s.passedAt
			}
			if state == obcluster.StateFailed && !endsWithError(task.TaskLogs) {
				line := obshell.ExecuteErrorLog(obshell.CodeCommonUnexpected.Code, "sub task failed")
				task.TaskLogs = append(task.TaskLogs, line)
				rows = append(rows, obshell.SubTaskLogDTO{ID: int64(len(rows) + 1), SubTaskID: taskID, ExecuteTimes: len(s.execs),
					LogContent: line, CreateTime: obshell.LocalTime(stop), UpdateTime: obshell.LocalTime(stop)})
			}
			if state == obcluster.StatePending {
				task.TaskLogs = nil // obshell fills logs only for running or finished sub-tasks
			}
			task.TaskStatusDTO = obshell.TaskStatusDTO{State: state, Operator: op, StartTime: obshell.LocalTime(start), EndTime: obshell.LocalTime(stop)}
			v.Logs[taskID] = rows
			node.SubTasks = append(node.SubTasks, task)
			if len(s.execs) > 0 || s.passed {
				if nodeStart.IsZero() || start.Before(nodeStart) {
					nodeStart = start
				}
				if stop.After(nodeEnd) {
					nodeEnd = stop
				}
			}
		}
		if nodeStart.IsZero() {
			nodeStart, nodeEnd = t.started, t.started
		}
		node.State, node.Operator = nodeState(states, ops, dagRunning && stage == t.status.Stage)
		node.StartTime, node.EndTime = obshell.LocalTime(nodeStart), obshell.LocalTime(nodeEnd)
		dag.Nodes = append(dag.Nodes, node)
	}
	return v, nil
}

func endsWithError(logs []string) bool {
	return len(logs) > 0 && strings.HasPrefix(logs[len(logs)-1], "ERROR: [")
}

// nodeState derives a node from its sub-tasks: RUNNING while one runs (or,
// for the DAG's current stage, while some are done and others not yet
// started), FAILED once all finished and one failed, SUCCEED when all
// succeeded, PENDING before any started.
func nodeState(states []obcluster.State, ops []obcluster.Operator, current bool) (obcluster.State, obcluster.Operator) {
	count := func(s obcluster.State) int {
		n := 0
		for _, x := range states {
			if x == s {
				n++
			}
		}
		return n
	}
	op := obcluster.OperatorRun
	for _, o := range []obcluster.Operator{obcluster.OperatorCancel, obcluster.OperatorRollback, obcluster.OperatorPass} {
		if slices.Contains(ops, o) {
			op = o
			break
		}
	}
	switch {
	case count(obcluster.StateRunning) > 0:
		return obcluster.StateRunning, op
	case count(obcluster.StatePending) == len(states):
		return obcluster.StatePending, op
	case count(obcluster.StatePending) > 0:
		if current {
			return obcluster.StateRunning, op
		}
		if count(obcluster.StateFailed) > 0 {
			return obcluster.StateFailed, op
		}
		return obcluster.StatePending, op
	case count(obcluster.StateFailed) > 0:
		return obcluster.StateFailed, op
	}
	return obcluster.StateSucceed, op
}
