// Package workflows holds obflow's DAG workflows. Every obshell DAG is one
// Temporal workflow run by a small generic engine (RunDAG): the workflow's
// input carries the DAG's Plan (name, id, owner, ordered stages with their
// targets and obshell's per-task flags), the engine runs one activity per
// stage per target host, keeps obshell's DAG state in search attributes, and
// takes obshell's operators (RETRY, ROLLBACK, CANCEL, PASS) as Updates.
//
// HISTORY.md in this directory documents how a DAG's state is read back from
// its event history; ParseActivityID and the plan types are exported for
// that translator.
package workflows

import (
	"fmt"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/taskqueue"
)

// UpdatePassNode is the node-level PASS (`POST /task/node/:id`); its one
// argument is the 1-based stage number of the node.
const UpdatePassNode = "PASS_NODE"

// QueryStatus answers the engine's current DagStatus (needs a running worker;
// the API reads history instead, see HISTORY.md).
const QueryStatus = "dag-status"

// DefaultFailedDagTTL is how long a FAILED DAG waits for an operator before
// its workflow closes (see FailedDagTTL).
const DefaultFailedDagTTL = 7 * 24 * time.Hour

// Plan is a DAG as obshell would create it. It is the first part of every
// DAG workflow's input, so the whole DAG (max_stage included) is readable
// from the WorkflowExecutionStarted event.
type Plan struct {
	DagName         string                    `json:"dagName"`
	DagID           int64                     `json:"dagId"`
	Owner           obcluster.Agent           `json:"owner"`             // the agent that stores the DAG (its generic id names it)
	Cluster         string                    `json:"cluster,omitempty"` // OceanBase cluster name, for search attributes
	MaintenanceType obcluster.MaintenanceType `json:"maintenanceType"`
	Stages          []Stage                   `json:"stages"`

	// Defaults are the activity options of every stage; Stage.Options
	// overrides them field by field.
	Defaults ActivityOptions `json:"defaults"`

	// FailedDagTTL is how long a FAILED DAG waits for an operator. When it
	// expires the workflow completes with the DAG still FAILED (Expired set
	// in the result); 0 means DefaultFailedDagTTL.
	FailedDagTTL time.Duration `json:"failedDagTtl,omitempty"`
}

// MaxStage is obshell's max_stage: the number of nodes.
func (p *Plan) MaxStage() int { return len(p.Stages) }

// Stage is one obshell node: one task run on one or more targets.
type Stage struct {
	Name     string   `json:"name"`               // obshell's node and task name
	Activity string   `json:"activity"`           // activity type of a run; "" means Name
	Rollback string   `json:"rollback,omitempty"` // activity type of the compensation; "" = none (no-op)
	Parallel bool     `json:"parallel,omitempty"` // one sub-task per target (else exactly one target)
	Targets  []Target `json:"targets"`
	Flags    Flags    `json:"flags"`

	Options *ActivityOptions `json:"options,omitempty"`
}

// ActivityType is the activity type the stage runs.
func (s *Stage) ActivityType() string {
	if s.Activity != "" {
		return s.Activity
	}
	return s.Name
}

// Target is where one sub-task runs: the agent it belongs to (obshell's
// execute_agent) and the task queue that carries it.
type Target struct {
	Agent obcluster.Agent `json:"agent"`
	Queue string          `json:"queue"`
}

// HostTarget runs on the agent's own host worker.
func HostTarget(a obcluster.Agent) Target {
	return Target{Agent: a, Queue: taskqueue.Host(a.String())}
}

// CoordinatorTarget runs on a coordinator worker on behalf of agent a.
func CoordinatorTarget(a obcluster.Agent) Target {
	return Target{Agent: a, Queue: taskqueue.Coordinator}
}

// Flags are obshell's per-task flags (CONTRACT.md §6.3, §7).
type Flags struct {
	CanCancel   bool `json:"canCancel"`
	CanContinue bool `json:"canContinue"`
	CanRetry    bool `json:"canRetry"`
	CanRollback bool `json:"canRollback"`
	CanPass     bool `json:"canPass"`
}

// ActivityOptions are the Temporal options of a stage's activities. Zero
// fields take the plan's defaults, then DefaultActivityOptions.
type ActivityOptions struct {
	// StartToClose bounds one attempt (obshell's sub-task timeout, 3600 s).
	StartToClose time.Duration `json:"startToClose,omitempty"`
	// ScheduleToStart bounds how long a sub-task waits for its host's
	// worker; on expiry the sub-task fails with "agent <ip:port>
	// unreachable". Applied on host queues only: the coordinator queue is
	// served by whoever runs the workflow.
	ScheduleToStart time.Duration `json:"scheduleToStart,omitempty"`
	// Heartbeat, when set, lets a dead worker be noticed in seconds.
	Heartbeat time.Duration `json:"heartbeat,omitempty"`
	// Retry of transient errors.
	InitialInterval    time.Duration `json:"initialInterval,omitempty"`
	BackoffCoefficient float64       `json:"backoffCoefficient,omitempty"`
	MaximumInterval    time.Duration `json:"maximumInterval,omitempty"`
	MaximumAttempts    int32         `json:"maximumAttempts,omitempty"`
	// NonRetryable are error types (obshell errCodes) that fail the sub-task
	// at once. Merged with the defaults, never replacing them.
	NonRetryable []string `json:"nonRetryable,omitempty"`
}

// NonRetryableErrCodes are obshell errCodes that describe configuration or
// state errors: retrying the same input cannot help, so the sub-task fails
// at once and the DAG waits for an operator.
var NonRetryableErrCodes = []string{
	"Common.DirNotEmpty",
	"Common.Unexpected",
	"Common.IllegalArgument",
	"Common.InvalidPort",
	"Common.InvalidIp",
	"Common.InvalidAddress",
	"OB.Parameter.RsList.Invalid",
	"OB.User.Password.Error",
	"OB.Server.Process.NotExist",
	"OB.Cluster.AsyncOperationTimeout",
	"MySQL.Error",
	"Task.Dag.ExecuteTimeout",
	"Task.Param.NotSet",
	"Task.Data.NotSet",
	"Task.AgentData.NotSet",
	"Agent.Identify.NotSupportOperation", // a host worker given another host's work
}

// DefaultActivityOptions apply where neither the stage nor the plan say
// otherwise.
var DefaultActivityOptions = ActivityOptions{
	StartToClose:       time.Hour, // obshell's DEFAULT_TIMEOUT
	ScheduleToStart:    30 * time.Second,
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
	MaximumAttempts:    5,
}

// merged returns o with its zero fields taken from d.
func (o ActivityOptions) merged(d ActivityOptions) ActivityOptions {
	if o.StartToClose == 0 {
		o.StartToClose = d.StartToClose
	}
	if o.ScheduleToStart == 0 {
		o.ScheduleToStart = d.ScheduleToStart
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = d.Heartbeat
	}
	if o.InitialInterval == 0 {
		o.InitialInterval = d.InitialInterval
	}
	if o.BackoffCoefficient == 0 {
		o.BackoffCoefficient = d.BackoffCoefficient
	}
	if o.MaximumInterval == 0 {
		o.MaximumInterval = d.MaximumInterval
	}
	if o.MaximumAttempts == 0 {
		o.MaximumAttempts = d.MaximumAttempts
	}
	o.NonRetryable = append(append([]string(nil), d.NonRetryable...), o.NonRetryable...)
	return o
}

// stageOptions resolves the options of stage s.
func (p *Plan) stageOptions(s *Stage) ActivityOptions {
	o := ActivityOptions{}
	if s.Options != nil {
		o = *s.Options
	}
	base := DefaultActivityOptions
	base.NonRetryable = NonRetryableErrCodes
	return o.merged(p.Defaults.merged(base))
}

// Validate checks the plan's shape; a bad plan is a bug of whoever built it.
func (p *Plan) Validate() error {
	if p.DagName == "" {
		return fmt.Errorf("plan has no DAG name")
	}
	if p.Owner.IP == "" || p.Owner.Port <= 0 {
		return fmt.Errorf("plan %q has no owner agent", p.DagName)
	}
	if len(p.Stages) == 0 {
		return fmt.Errorf("plan %q has no stages", p.DagName)
	}
	for i, s := range p.Stages {
		if s.Name == "" {
			return fmt.Errorf("stage %d has no name", i+1)
		}
		if len(s.Targets) == 0 {
			return fmt.Errorf("stage %d %q has no target", i+1, s.Name)
		}
		if !s.Parallel && len(s.Targets) != 1 {
			return fmt.Errorf("serial stage %d %q has %d targets", i+1, s.Name, len(s.Targets))
		}
		seen := map[string]bool{}
		for _, t := range s.Targets {
			if t.Queue == "" {
				return fmt.Errorf("stage %d %q: target %s has no task queue", i+1, s.Name, t.Agent)
			}
			if seen[t.Agent.String()] {
				return fmt.Errorf("stage %d %q: target %s appears twice", i+1, s.Name, t.Agent)
			}
			seen[t.Agent.String()] = true
		}
	}
	return nil
}

// DagStatus is the DAG's obshell-level status.
type DagStatus struct {
	State    obcluster.State    `json:"state"`
	Operator obcluster.Operator `json:"operator"`
	Stage    int                `json:"stage"`
	MaxStage int                `json:"maxStage"`
}

// DagResult is a DAG workflow's result: its final status. A workflow
// completes with the DAG SUCCEED (operator RUN, ROLLBACK or PASS) or, when
// a FAILED DAG waited FailedDagTTL for an operator, FAILED with Expired set.
type DagResult struct {
	DagStatus
	Expired bool `json:"expired,omitempty"`
}
