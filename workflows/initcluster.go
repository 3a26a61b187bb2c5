package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/searchattr"
	"github.com/obflow/obflow/internal/taskqueue"
)

// InitializeClusterName is the workflow type, obshell's DAG_INIT_CLUSTER.
const InitializeClusterName = "Initialize cluster"

// Topology is the cluster an init works on, as the agents' join and config
// calls stored it.
type Topology struct {
	Cluster obcluster.ClusterConfig `json:"cluster"` // name, id, optional rsList
	// RootPassword is the new root@sys password. It is a secret: it only
	// travels in payloads, which the payload codec encrypts.
	RootPassword string                   `json:"rootPassword,omitempty"`
	Master       obcluster.Agent          `json:"master"`
	Hosts        []obcluster.Host         `json:"hosts"` // in join order, master included
	Observer     obcluster.ObserverConfig `json:"observer"`

	CreateProxyroUser bool   `json:"createProxyroUser,omitempty"`
	ProxyroPassword   string `json:"proxyroPassword,omitempty"` // secret, like RootPassword
	ImportScript      bool   `json:"importScript,omitempty"`
}

// InitializeClusterInput is the input of the "Initialize cluster" workflow:
// its plan (built by NewInitializeClusterInput) and the topology.
type InitializeClusterInput struct {
	Plan     Plan     `json:"plan"`
	Topology Topology `json:"topology"`
}

// PlanOptions tune a plan; zero values take the defaults.
type PlanOptions struct {
	// Defaults override DefaultActivityOptions for every stage, e.g. a short
	// ScheduleToStart in tests.
	Defaults ActivityOptions
	// Stages override the options of the stages named, after the built-in
	// per-stage options.
	Stages map[string]ActivityOptions
	// FailedDagTTL, see Plan.
	FailedDagTTL time.Duration
}

// Built-in options of the long stages: they heartbeat, so a dead worker is
// noticed in HeartbeatTimeout rather than at the end of the stage timeout.
var (
	// startObserverOptions: start + health wait (obshell: up to 600 s).
	startObserverOptions = ActivityOptions{StartToClose: 15 * time.Minute, Heartbeat: 10 * time.Second}
	// bootstrapOptions: obshell gives BOOTSTRAP a 1000 s query timeout.
	bootstrapOptions = ActivityOptions{StartToClose: 20 * time.Minute, Heartbeat: 10 * time.Second}
)

// NewInitializeClusterInput builds the "Initialize cluster" DAG of
// CONTRACT.md §7.5.1 for topo: 11 stages, plus "Create user" with CreateProxyroUser and
// "Import script for tenant" with ImportScript. dagID is the DAG's row id
// in the owner's sequence.
func NewInitializeClusterInput(dagID int64, topo Topology, opts PlanOptions) (InitializeClusterInput, error) {
	if err := topo.validate(); err != nil {
		return InitializeClusterInput{}, err
	}
	hosts := make([]Target, len(topo.Hosts))
	for i, h := range topo.Hosts {
		hosts[i] = HostTarget(h.Agent)
	}
	master := []Target{CoordinatorTarget(topo.Master)}
	f := func(cancel, rollback, pass bool) Flags {
		// Every init task can continue and retry (CONTRACT.md §7.5.1).
		return Flags{CanCancel: cancel, CanContinue: true, CanRetry: true, CanRollback: rollback, CanPass: pass}
	}
	sync := Stage{Name: activities.SyncAgentName, Parallel: true, Targets: hosts, Flags: f(true, false, false)}

	stages := []Stage{
		{Name: activities.IntegrateConfigName, Targets: master, Flags: f(true, true, false)},
		{Name: activities.CreateWorkdirName, Rollback: activities.DestroyWorkdirName, Parallel: true, Targets: hosts, Flags: f(true, true, false)},
		{Name: activities.StartObserverName, Rollback: activities.StopObserverName, Parallel: true, Targets: hosts, Flags: f(true, true, true), Options: &startObserverOptions},
		// obshell's bootstrap rollback only drops its DB handle: a no-op here.
		{Name: activities.ClusterBootstrapName, Targets: master, Flags: f(true, true, false), Options: &bootstrapOptions},
		{Name: activities.MigrateTableName, Targets: master, Flags: f(true, true, false)},
		{Name: activities.ModifyPasswordName, Targets: master, Flags: f(false, true, false)},
	}
	if topo.CreateProxyroUser {
		stages = append(stages, Stage{Name: activities.CreateUserName, Targets: master, Flags: f(true, false, false)})
	}
	stages = append(stages,
		Stage{Name: activities.MigrateDataName, Targets: master, Flags: f(true, true, false)},
		Stage{Name: activities.ConvertFollowerName, Targets: master, Flags: f(false, true, false)},
		sync,
		Stage{Name: activities.ConvertMasterName, Targets: master, Flags: f(false, true, false)},
	)
	if topo.ImportScript {
		stages = append(stages, Stage{Name: activities.ImportScriptName, Targets: master, Flags: f(true, false, true)})
	}
	stages = append(stages, sync)

	for i := range stages {
		st := &stages[i]
		st.Activity = st.Name
		o, ok := opts.Stages[st.Name]
		if !ok {
			continue
		}
		if st.Options != nil {
			o = o.merged(*st.Options)
		}
		st.Options = &o
	}
	for i := range stages { // no stage shares its Targets or Options with another
		stages[i].Targets = append([]Target(nil), stages[i].Targets...)
		if stages[i].Options != nil {
			o := *stages[i].Options
			stages[i].Options = &o
		}
	}

	plan := Plan{
		DagName:         InitializeClusterName,
		DagID:           dagID,
		Owner:           topo.Master,
		Cluster:         topo.Cluster.Name,
		MaintenanceType: obcluster.MaintenanceGlobal,
		Stages:          stages,
		Defaults:        opts.Defaults,
		FailedDagTTL:    opts.FailedDagTTL,
	}
	return InitializeClusterInput{Plan: plan, Topology: topo}, plan.Validate()
}

// validate checks what the plan's shape depends on: the hosts and the
// master. Observer and cluster configuration are checked by "Integrate
// config", where obshell checks them, so that a bad config fails the DAG at
// stage 1 with obshell's errCode.
func (t *Topology) validate() error {
	if len(t.Hosts) == 0 {
		return fmt.Errorf("topology has no hosts")
	}
	seen := map[string]bool{}
	for _, h := range t.Hosts {
		if h.Agent.IP == "" || h.Agent.Port <= 0 || h.Agent.Port > 65535 {
			return fmt.Errorf("host %q has no valid agent address", h.Agent)
		}
		if seen[h.Agent.String()] {
			return fmt.Errorf("host %s appears twice", h.Agent)
		}
		seen[h.Agent.String()] = true
	}
	if !seen[t.Master.String()] {
		return fmt.Errorf("master %s is not one of the hosts", t.Master)
	}
	return nil
}

// InitializeCluster is obshell's "Initialize cluster" DAG (CONTRACT.md §7.5).
func InitializeCluster(ctx workflow.Context, in InitializeClusterInput) (DagResult, error) {
	return RunDAG(ctx, in.Plan, &initDriver{topo: &in.Topology})
}

// initDriver feeds the init activities. Everything after "Integrate config"
// reads that stage's result (the cluster plan), so data flows from stage 1
// to the others as obshell's DAG context does.
type initDriver struct {
	topo    *Topology
	cluster *activities.IntegrateConfigResult
}

// Input is keyed by activity type, so a plan built elsewhere from the same
// activities gets the same inputs.
func (d *initDriver) Input(activityType string, _ int, t Target) (any, error) {
	topo := d.topo
	if activityType == activities.IntegrateConfigName {
		return activities.IntegrateConfigInput{
			Master:   topo.Master,
			Hosts:    topo.Hosts,
			Cluster:  topo.Cluster,
			Observer: topo.Observer,
		}, nil
	}
	if d.cluster == nil {
		return nil, fmt.Errorf("%s needs the cluster plan of %q, which has not run", activityType, activities.IntegrateConfigName)
	}
	cluster := activities.ClusterInput{
		Plan:         *d.cluster,
		Master:       topo.Master,
		RootPassword: topo.RootPassword,
		Tenant:       obcluster.SysTenant,
	}
	switch activityType {
	case activities.CreateWorkdirName, activities.DestroyWorkdirName:
		s, err := d.server(t.Agent)
		return activities.WorkdirInput{Agent: t.Agent, Dirs: s.Dirs}, err
	case activities.StartObserverName, activities.StopObserverName:
		s, err := d.server(t.Agent)
		return activities.StartObserverInput{Server: s, HealthCheck: true}, err
	case activities.SyncAgentName:
		s, err := d.server(t.Agent)
		return activities.SyncAgentInput{Server: s, Master: topo.Master, RootPassword: topo.RootPassword}, err
	case activities.CreateUserName:
		cluster.ProxyroPassword = topo.ProxyroPassword
		return cluster, nil
	case activities.ClusterBootstrapName, activities.MigrateTableName, activities.ModifyPasswordName,
		activities.MigrateDataName, activities.ConvertFollowerName, activities.ConvertMasterName,
		activities.ImportScriptName:
		return cluster, nil
	}
	return nil, fmt.Errorf("no input known for activity %q", activityType)
}

// server is the cluster plan's entry for agent a.
func (d *initDriver) server(a obcluster.Agent) (obcluster.ServerPlan, error) {
	for _, s := range d.cluster.Servers {
		if s.Host.Agent == a {
			return s, nil
		}
	}
	return obcluster.ServerPlan{}, fmt.Errorf("the cluster plan has no server for agent %s", a)
}

// Completed keeps the cluster plan that "Integrate config" produced, after
// checking that every later stage will find what it needs in it.
func (d *initDriver) Completed(ctx workflow.Context, activityType string, _ int, _ Target, f workflow.Future) error {
	if activityType != activities.IntegrateConfigName {
		return nil
	}
	var res activities.IntegrateConfigResult
	if err := f.Get(ctx, &res); err != nil {
		return fmt.Errorf("decode the result of %q: %w", activityType, err)
	}
	if err := checkClusterPlan(d.topo, &res); err != nil {
		return err
	}
	res.Logs = nil // kept in history; later inputs need not repeat them
	d.cluster = &res
	return nil
}

// checkClusterPlan verifies that plan has one server per host and a root
// server per zone, in the documented order (master's zone first).
func checkClusterPlan(topo *Topology, plan *activities.IntegrateConfigResult) error {
	byAgent := map[obcluster.Agent]bool{}
	for _, s := range plan.Servers {
		byAgent[s.Host.Agent] = true
	}
	for _, h := range topo.Hosts {
		if !byAgent[h.Agent] {
			return fmt.Errorf("the cluster plan has no server for agent %s", h.Agent)
		}
	}
	if len(plan.Zones) == 0 {
		return fmt.Errorf("the cluster plan has no zones")
	}
	for _, z := range plan.Zones {
		if _, ok := plan.ZoneRS[z]; !ok {
			return fmt.Errorf("the cluster plan has no root server for zone %s", z)
		}
	}
	for _, h := range topo.Hosts {
		if h.Agent == topo.Master && h.Zone != plan.Zones[0] {
			return fmt.Errorf("the cluster plan bootstraps zone %s first, not the master's zone %s", plan.Zones[0], h.Zone)
		}
	}
	return nil
}

// Register registers obflow's DAG workflows under their obshell names.
func Register(r interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}) {
	r.RegisterWorkflowWithOptions(InitializeCluster, workflow.RegisterOptions{Name: InitializeClusterName})
}

// WorkflowID is the id of the workflow of the DAG with obshell generic id
// genericID (CONTRACT.md §8.1, §8.3), so the API goes from an id to its workflow with no
// lookup.
func WorkflowID(genericID string) string { return "dag-" + genericID }

// StartWorkflowOptions are the options to start the DAG of plan, whose
// obshell generic id is genericID: its workflow id, the coordinator queue,
// and the search attributes of a new DAG (READY/RUN at stage 1).
func StartWorkflowOptions(genericID string, plan Plan) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       WorkflowID(genericID),
		TaskQueue:                taskqueue.Coordinator,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:            fmt.Sprintf("%s (DAG %d on %s)", plan.DagName, plan.DagID, plan.Owner),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchattr.DagName.ValueSet(plan.DagName),
			searchattr.DagID.ValueSet(plan.DagID),
			searchattr.Cluster.ValueSet(plan.Cluster),
			searchattr.Agent.ValueSet(plan.Owner.String()),
			searchattr.DagState.ValueSet(obcluster.StateReady.String()),
			searchattr.DagOperator.ValueSet(obcluster.OperatorRun.String()),
			searchattr.DagStage.ValueSet(1),
		),
	}
}
