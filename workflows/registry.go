package workflows

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/taskqueue"
)

// The cluster registry is one long-running entity workflow per deployment
// (CONTRACT.md §1.1): the agents, their zones and identities, the observer and
// cluster configuration, the root password, the maintenance locks and the
// DAG id sequences live in its state. It changes only through Updates,
// whose validators apply obshell's preconditions and reject with its
// errCodes, so any agent can answer for any DAG without asking another
// agent. Every DAG it creates is its child (ParentClosePolicy ABANDON), so
// it learns when a DAG closes and releases the lock then; it continues as
// new only while no DAG is open, which keeps its history short.
const (
	// RegistryWorkflowName is the registry's workflow type.
	RegistryWorkflowName = "obflow cluster registry"
	// DefaultRegistryID is the registry's workflow id when a deployment
	// runs one cluster.
	DefaultRegistryID = "obflow-registry"

	// UpdateCreateDag creates a maintenance DAG (CreateDagRequest).
	UpdateCreateDag = "create-dag"
	// UpdateApply applies one agent-DAG stage's change
	// (obcluster.RegistryChange).
	UpdateApply = activities.RegistryApplyUpdate
	// QueryRegistryState answers the RegistryState.
	QueryRegistryState = "state"
	// UpdateSetAgentPassword stores an agent's password
	// (SetAgentPasswordRequest; POST /api/v1/agent/password).
	UpdateSetAgentPassword = "set-agent-password"

	// maxDagsPerAgent bounds the DAG list kept per agent (the list routes).
	maxDagsPerAgent = 200
	// registryHistoryLimit is the history length after which the registry
	// continues as new at its next idle moment.
	registryHistoryLimit = 4000
)

// DagRef is one DAG the registry created.
type DagRef struct {
	GenericID   string    `json:"id"`
	DagID       int64     `json:"dagId"`
	Name        string    `json:"name"`
	Owner       string    `json:"owner"` // ip:port of the agent that stores it
	Maintenance bool      `json:"maintenance"`
	Created     time.Time `json:"created"`
	Closed      bool      `json:"closed"`
	// Final is the DAG's status when its workflow closed.
	Final DagStatus `json:"final"`
}

// RegistryState is the registry's whole state, carried across
// continue-as-new. RootPassword is a secret: it lives only in payloads,
// which the payload codec encrypts; never in memo, search attributes or ids.
type RegistryState struct {
	Agents         []obcluster.AgentRecord  `json:"agents"` // join order
	Observer       obcluster.ObserverConfig `json:"observer"`
	ConfigRevision int64                    `json:"configRevision"`
	Cluster        *obcluster.ClusterConfig `json:"cluster,omitempty"`
	RootPassword   string                   `json:"rootPassword,omitempty"`
	RootPwdSet     bool                     `json:"rootPwdSet"`
	// AgentPasswords are the agents' own passwords (X-OCS-Agent-Header),
	// by "ip:port". Secrets, like RootPassword. obshell keeps them in
	// each agent's sqlite, so they outlive membership: removing an agent
	// keeps its password.
	AgentPasswords map[string]string   `json:"agentPasswords,omitempty"`
	Initialized    bool                `json:"initialized"`
	Locks          map[string]string   `json:"locks"` // owner ip:port -> generic id of the DAG holding it
	Seq            map[string]int64    `json:"seq"`   // owner ip:port -> last DAG id
	Dags           map[string][]DagRef `json:"dags"`  // owner ip:port -> its DAGs, oldest first
	// HistoryLimit, when > 0, replaces registryHistoryLimit (tests lower
	// it to exercise continue-as-new).
	HistoryLimit int64 `json:"historyLimit,omitempty"`
	// Open lists the generic ids of child DAGs whose close has not been
	// seen yet. A run with open DAGs never continues as new, so it is
	// empty whenever a new run starts.
	Open []string `json:"open,omitempty"`
}

// Agent returns the record of addr ("ip:port").
func (s *RegistryState) Agent(addr string) (obcluster.AgentRecord, bool) {
	for _, a := range s.Agents {
		if a.Agent.String() == addr {
			return a, true
		}
	}
	return obcluster.AgentRecord{}, false
}

// Identity is the identity of addr: SINGLE when it is not a member (or its
// join has not reached "Be follower").
func (s *RegistryState) Identity(addr string) obcluster.Identity {
	a, ok := s.Agent(addr)
	if !ok || a.Identity == "" {
		return obcluster.IdentitySingle
	}
	return a.Identity
}

// Master is the MASTER's record, or the first CLUSTER AGENT after init.
func (s *RegistryState) Master() (obcluster.AgentRecord, bool) {
	for _, a := range s.Agents {
		if a.Identity == obcluster.IdentityMaster {
			return a, true
		}
	}
	return obcluster.AgentRecord{}, false
}

// ZoneExists reports whether a member is in zone.
func (s *RegistryState) ZoneExists(zone string) bool {
	return slices.ContainsFunc(s.Agents, func(a obcluster.AgentRecord) bool { return a.Identity != "" && a.Zone == zone })
}

// FindDag finds a DAG by generic id.
func (s *RegistryState) FindDag(genericID string) (DagRef, bool) {
	for _, list := range s.Dags {
		for _, d := range list {
			if d.GenericID == genericID {
				return d, true
			}
		}
	}
	return DagRef{}, false
}

// CreateDagRequest asks the registry for a new maintenance DAG.
type CreateDagRequest struct {
	Name string `json:"name"` // obshell's DAG name
	// Owner is the agent that stores the DAG: the joining agent for joins,
	// the master for config and init.
	Owner obcluster.AgentRecord `json:"owner"`
	// Change is the registry change of join and config DAGs.
	Change obcluster.RegistryChange `json:"change"`
	// Init parameters (POST /api/v1/ob/init).
	ImportScript      bool   `json:"importScript,omitempty"`
	CreateProxyroUser bool   `json:"createProxyroUser,omitempty"`
	ProxyroPassword   string `json:"proxyroPassword,omitempty"` // secret
	// Options tune the DAG's plan (tests shorten timeouts).
	Options PlanOptions `json:"options"`
}

// CreateDagResponse names the created DAG.
type CreateDagResponse struct {
	DagRef
	MaxStage        int                       `json:"maxStage"`
	MaintenanceType obcluster.MaintenanceType `json:"maintenanceType"`
}

// AgentDagInput is the input of the join and config DAG workflows.
type AgentDagInput struct {
	Plan     Plan                     `json:"plan"`
	Registry string                   `json:"registry"`
	Change   obcluster.RegistryChange `json:"change"`
}

// AgentDag runs a join or config DAG: every stage applies its change to
// the registry (activities.RegistryActivities).
func AgentDag(ctx workflow.Context, in AgentDagInput) (DagResult, error) {
	return RunDAG(ctx, in.Plan, agentDagDriver{in: in})
}

type agentDagDriver struct{ in AgentDagInput }

// stageChange maps a stage's activity to its change kind.
var stageChange = map[string]obcluster.ChangeKind{
	activities.JoinSelfName:             obcluster.ChangeJoinSelf,
	activities.JoinMasterName:           obcluster.ChangeJoinMaster,
	activities.BeFollowerName:           obcluster.ChangeBeFollower,
	activities.UpdateObserverConfigName: obcluster.ChangeObserverConfig,
	activities.UpdateClusterConfigName:  obcluster.ChangeClusterConfig,
	activities.RemoveFollowerName:       obcluster.ChangeAgentToSingle,
	activities.AgentToSingleName:        obcluster.ChangeAgentToSingle,
	activities.FollowerRemoveSelfName:   obcluster.ChangeRemoveFollower,
	activities.RemoveFollowerAgentName:  obcluster.ChangeRemoveFollower,
	activities.RemoveMasterName:         obcluster.ChangeRemoveMaster,
}

func (d agentDagDriver) Input(activityType string, _ int, t Target) (any, error) {
	kind, ok := stageChange[activityType]
	if !ok {
		return nil, fmt.Errorf("no input known for activity %q", activityType)
	}
	c := d.in.Change
	c.Kind = kind
	if activityType == activities.RemoveFollowerName {
		// One sub-task per follower: each turns its own agent SINGLE.
		c.Agent = obcluster.AgentRecord{Agent: t.Agent}
	}
	return activities.RegistryChangeInput{Registry: d.in.Registry, Change: c}, nil
}

func (agentDagDriver) Completed(workflow.Context, string, int, Target, workflow.Future) error {
	return nil
}

// RegisterRegistry registers the registry and the join, config and remove
// DAG workflows (the coordinator must run them next to Register's).
// "Remove follower agent <ip:port>" has the address in its type, so it is
// the worker's dynamic workflow when the registerer supports one (every
// worker.Worker does).
func RegisterRegistry(r interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}) {
	r.RegisterWorkflowWithOptions(Registry, workflow.RegisterOptions{Name: RegistryWorkflowName})
	for _, name := range []string{activities.JoinSelfName, activities.JoinMasterName, activities.UpdateObserverConfigName, activities.UpdateClusterConfigName,
		RemoveAllAgentsName, FollowerRemoveSelfName} {
		r.RegisterWorkflowWithOptions(AgentDag, workflow.RegisterOptions{Name: name})
	}
	if d, ok := r.(interface {
		RegisterDynamicWorkflow(w any, options workflow.DynamicRegisterOptions)
	}); ok {
		d.RegisterDynamicWorkflow(removeFollowerDag, workflow.DynamicRegisterOptions{})
	}
}

// agentDagPlan builds the plan of a join or config DAG (CONTRACT.md §7.1–§7.4).
// Their stages run on the owner's host worker, so a join needs the joining
// host's agent to be alive, as in obshell.
func agentDagPlan(name string, dagID int64, owner obcluster.Agent, cluster string, opts PlanOptions) (Plan, error) {
	t := []Target{HostTarget(owner)}
	var stages []Stage
	switch name {
	case activities.JoinSelfName:
		// obshell: CanContinue only. obflow also allows RETRY, or a failed
		// join would hold the agent's lock for ever.
		stages = []Stage{{Name: activities.JoinSelfName, Targets: t, Flags: Flags{CanContinue: true, CanRetry: true}}}
	case activities.JoinMasterName:
		f := Flags{CanContinue: true, CanRetry: true}
		stages = []Stage{
			{Name: activities.JoinMasterName, Targets: t, Flags: f},
			{Name: activities.BeFollowerName, Targets: t, Flags: f},
		}
	case activities.UpdateObserverConfigName, activities.UpdateClusterConfigName:
		stages = []Stage{{Name: name, Targets: t, Flags: Flags{CanCancel: true, CanContinue: true, CanRetry: true}}}
	default:
		return Plan{}, fmt.Errorf("unknown agent DAG %q", name)
	}
	return registryDagPlan(name, dagID, owner, cluster, stages, opts)
}

// registryDagPlan completes the stages of a DAG the registry creates (join,
// config, remove): a stage's activity defaults to its name, and its options
// come from opts by activity. The plan is validated.
func registryDagPlan(name string, dagID int64, owner obcluster.Agent, cluster string, stages []Stage, opts PlanOptions) (Plan, error) {
	for i := range stages {
		if stages[i].Activity == "" {
			stages[i].Activity = stages[i].Name
		}
		if o, ok := opts.Stages[stages[i].Activity]; ok {
			stages[i].Options = &o
		}
	}
	p := Plan{
		DagName: name, DagID: dagID, Owner: owner, Cluster: cluster,
		MaintenanceType: obcluster.MaintenanceGlobal, Stages: stages,
		Defaults: opts.Defaults, FailedDagTTL: opts.FailedDagTTL,
	}
	return p, p.Validate()
}

// registry is the workflow's live state.
type registry struct {
	id    string
	st    RegistryState
	began bool
}

// Registry is the cluster registry workflow. Start it once per deployment
// with id DefaultRegistryID (WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING makes
// every agent's start idempotent).
func Registry(ctx workflow.Context, st RegistryState) error {
	r := &registry{id: workflow.GetInfo(ctx).WorkflowExecution.ID, st: st}
	if r.st.Locks == nil {
		r.st.Locks = map[string]string{}
	}
	if r.st.Seq == nil {
		r.st.Seq = map[string]int64{}
	}
	if r.st.Dags == nil {
		r.st.Dags = map[string][]DagRef{}
	}
	// A run starts with no open DAG (see Open); locks of DAGs whose close
	// was seen are already released.
	r.st.Open = nil

	if err := workflow.SetQueryHandler(ctx, QueryRegistryState, func() (RegistryState, error) { return r.st, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCreateDag, r.createDag,
		workflow.UpdateHandlerOptions{Validator: r.validateCreateDag, Description: "create a maintenance DAG"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSetAgentPassword, r.setAgentPassword,
		workflow.UpdateHandlerOptions{Validator: r.validateSetAgentPassword, Description: "store an agent's password"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApply, r.apply,
		workflow.UpdateHandlerOptions{Validator: r.validateApply, Description: "apply a join or config stage"}); err != nil {
		return err
	}

	// Continue as new once the history is long, at a moment when no DAG is
	// open and no handler runs, so nothing is lost.
	for {
		err := workflow.Await(ctx, func() bool {
			info := workflow.GetInfo(ctx)
			limit := int64(registryHistoryLimit)
			if r.st.HistoryLimit > 0 {
				limit = r.st.HistoryLimit
			}
			long := info.GetContinueAsNewSuggested() || int64(info.GetCurrentHistoryLength()) > limit
			return long && len(r.st.Open) == 0 && workflow.AllHandlersFinished(ctx)
		})
		if err != nil {
			return err
		}
		return workflow.NewContinueAsNewError(ctx, RegistryWorkflowName, r.st)
	}
}

func rejection(err *obshell.Error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), err.ErrCode(), nil)
}

// validateCreateDag applies obshell's preconditions (CONTRACT.md §3.5–§3.10,
// §6.5). It must not change state.
func (r *registry) validateCreateDag(_ workflow.Context, req CreateDagRequest) error {
	if err := r.check(req); err != nil {
		return rejection(err)
	}
	return nil
}

func (r *registry) check(req CreateDagRequest) *obshell.Error {
	owner := req.Owner.Agent.String()
	if req.Owner.IP == "" || req.Owner.Port <= 0 {
		return obshell.NewIllegalParameter("owner", "empty")
	}
	identity := r.st.Identity(owner)
	switch req.Name {
	case activities.JoinSelfName, activities.JoinMasterName:
		if identity != obcluster.IdentitySingle {
			return obshell.NewIdentifyNotSupportOperation(owner, identity, string(obcluster.IdentitySingle))
		}
		if _, half := r.st.Agent(owner); half {
			// A join that stopped after "Join to master": the agent is a
			// member without an identity. Only its own DAG can go on.
			return obshell.NewAgentAlreadyExists(owner)
		}
		if req.Name == activities.JoinSelfName {
			if m, ok := r.st.Master(); ok {
				return obshell.NewIdentifyNotSupportOperation(m.Agent.String(), obcluster.IdentityMaster, string(obcluster.IdentitySingle))
			}
			if r.st.Initialized {
				return obshell.NewClusterAlreadyInitialized()
			}
		} else {
			target := req.Change.Master.String()
			m, ok := r.st.Agent(target)
			if !ok || m.Identity != obcluster.IdentityMaster {
				return obshell.NewIdentifyNotSupportOperation(target, r.st.Identity(target), string(obcluster.IdentityMaster))
			}
			// obshell names the master first, then the joining agent.
			if m.Version != req.Owner.Version {
				return obshell.NewVersionInconsistent(target, m.Version, owner, req.Owner.Version)
			}
			if m.OBVersion != req.Owner.OBVersion {
				return obshell.NewOBVersionInconsistent(target, m.OBVersion, owner, req.Owner.OBVersion)
			}
			if r.st.Locks[target] != "" {
				return obshell.NewUnderMaintenance(target)
			}
		}
	case activities.UpdateObserverConfigName, activities.UpdateClusterConfigName, InitializeClusterName:
		switch identity {
		case obcluster.IdentityMaster:
		case obcluster.IdentityClusterAgent:
			return obshell.NewClusterAlreadyInitialized()
		default:
			return obshell.NewIdentifyNotSupportOperation(owner, identity, "MASTER or FOLLOWER")
		}
		if req.Name == activities.UpdateObserverConfigName {
			if err := r.checkScope(req.Change.ScopeType, req.Change.Targets); err != nil {
				return err
			}
		}
	default:
		if !IsRemoveDag(req.Name) {
			return obshell.NewIllegalParameter("name", fmt.Sprintf("unknown DAG %q", req.Name))
		}
		if err := r.checkRemove(req, owner, identity); err != nil {
			return err
		}
	}
	if r.st.Locks[owner] != "" {
		return obshell.NewUnderMaintenance(owner)
	}
	return nil
}

func (r *registry) checkScope(scopeType string, targets []string) *obshell.Error {
	switch scopeType {
	case obshell.ScopeGlobal:
		return nil
	case obshell.ScopeZone:
		for _, z := range targets {
			if !r.st.ZoneExists(z) {
				return obshell.NewZoneNotExist(z)
			}
		}
		return nil
	case obshell.ScopeServer:
		for _, t := range targets {
			if a, ok := r.st.Agent(t); !ok || a.Identity == "" {
				return obshell.NewAgentNotExist(t)
			}
		}
		return nil
	}
	return obshell.NewScopeInvalid(scopeType)
}

// createDag takes the owner's lock, starts the DAG as a child workflow and
// returns once it started. The lock is taken before the first blocking
// call, so a second request validated meanwhile fails here.
func (r *registry) createDag(ctx workflow.Context, req CreateDagRequest) (CreateDagResponse, error) {
	if err := r.check(req); err != nil {
		return CreateDagResponse{}, rejection(err)
	}
	owner := req.Owner.Agent
	key := owner.String()
	r.st.Seq[key]++
	dagID := r.st.Seq[key]
	gid, err := obshell.EncodeLocalID(owner, dagID)
	if err != nil {
		return CreateDagResponse{}, rejection(obshell.WrapRetain(obshell.CodeTaskCreateFailed, err, req.Name))
	}
	cluster := ""
	if r.st.Cluster != nil {
		cluster = r.st.Cluster.Name
	}

	var plan Plan
	var input any
	if req.Name == InitializeClusterName {
		in, err := NewInitializeClusterInput(dagID, r.topology(req), req.Options)
		if err != nil {
			return CreateDagResponse{}, rejection(obshell.NewTaskCreateFailed(req.Name, obshell.NewUnexpected(err.Error())))
		}
		plan, input = in.Plan, in
	} else {
		change := req.Change
		change.DagID = gid
		if IsRemoveDag(req.Name) {
			// Change.Agent is the agent to remove; the owner removes it.
			if req.Name != RemoveFollowerDagName(change.Agent.Agent) {
				change.Agent = req.Owner
			}
			change.Master = owner
			plan, err = removeDagPlan(req.Name, dagID, owner, change.Agent.Agent, r.followers(), cluster, req.Options)
		} else {
			change.Agent = req.Owner
			plan, err = agentDagPlan(req.Name, dagID, owner, cluster, req.Options)
		}
		if err != nil {
			return CreateDagResponse{}, rejection(obshell.NewTaskCreateFailed(req.Name, obshell.NewUnexpected(err.Error())))
		}
		input = AgentDagInput{Plan: plan, Registry: r.id, Change: change}
	}

	r.st.Locks[key] = gid
	for _, other := range r.alsoLocks(req) {
		r.st.Locks[other] = gid
	}
	ref := DagRef{GenericID: gid, DagID: dagID, Name: req.Name, Owner: key, Maintenance: true, Created: workflow.Now(ctx)}
	r.addDag(key, ref)
	r.st.Open = append(r.st.Open, gid)

	so := StartWorkflowOptions(gid, plan)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            so.ID,
		TaskQueue:             taskqueue.Coordinator,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: so.TypedSearchAttributes,
		StaticSummary:         so.StaticSummary,
	})
	child := workflow.ExecuteChildWorkflow(cctx, plan.DagName, input)
	if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		r.closed(ref, req.Name, DagResult{DagStatus: DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorRun}})
		return CreateDagResponse{}, rejection(obshell.NewTaskCreateFailed(req.Name, obshell.NewUnexpected(err.Error())))
	}
	workflow.Go(ctx, func(gctx workflow.Context) {
		var res DagResult
		if err := child.Get(gctx, &res); err != nil {
			res = DagResult{DagStatus: DagStatus{State: obcluster.StateFailed, Operator: obcluster.OperatorCancel, MaxStage: plan.MaxStage()}}
		}
		r.closed(ref, req.Name, res)
	})
	return CreateDagResponse{DagRef: ref, MaxStage: plan.MaxStage(), MaintenanceType: plan.MaintenanceType}, nil
}

// closed is called once per DAG when its workflow closed: the lock is
// released (a FAILED DAG keeps it while its workflow waits for an
// operator, CONTRACT.md §6.5) and a successful init makes every member a CLUSTER
// AGENT.
func (r *registry) closed(ref DagRef, name string, res DagResult) {
	// The owner's lock, and any other lock the DAG took (alsoLocks).
	for agent, gid := range r.st.Locks {
		if gid == ref.GenericID {
			delete(r.st.Locks, agent)
		}
	}
	r.st.Open = slices.DeleteFunc(r.st.Open, func(g string) bool { return g == ref.GenericID })
	list := r.st.Dags[ref.Owner]
	for i := range list {
		if list[i].GenericID == ref.GenericID {
			list[i].Closed = true
			list[i].Final = res.DagStatus
		}
	}
	if name == InitializeClusterName && res.State == obcluster.StateSucceed && res.Operator == obcluster.OperatorRun {
		r.st.Initialized = true
		for i := range r.st.Agents {
			if r.st.Agents[i].Identity != "" {
				r.st.Agents[i].Identity = obcluster.IdentityClusterAgent
			}
		}
	}
}

func (r *registry) addDag(owner string, ref DagRef) {
	list := append(r.st.Dags[owner], ref)
	for len(list) > maxDagsPerAgent {
		i := slices.IndexFunc(list, func(d DagRef) bool { return d.Closed })
		if i < 0 {
			break
		}
		list = slices.Delete(list, i, i+1)
	}
	r.st.Dags[owner] = list
}

// topology is what init works on: every member in join order (obshell's
// execute_agents = all_agent at creation), the configs and the password.
func (r *registry) topology(req CreateDagRequest) Topology {
	t := Topology{
		RootPassword:      r.st.RootPassword,
		Master:            req.Owner.Agent,
		Observer:          r.st.Observer,
		CreateProxyroUser: req.CreateProxyroUser,
		ProxyroPassword:   req.ProxyroPassword,
		ImportScript:      req.ImportScript,
	}
	if r.st.Cluster != nil {
		t.Cluster = *r.st.Cluster
	}
	for _, a := range r.st.Agents {
		if a.Identity == "" {
			continue
		}
		t.Hosts = append(t.Hosts, obcluster.Host{Agent: a.Agent, Zone: a.Zone, HomePath: a.HomePath,
			Version: a.Version, OS: a.OS, Architecture: a.Architecture, PublicKey: a.PublicKey})
	}
	return t
}

// validateApply rejects changes that no longer fit the registry.
func (r *registry) validateApply(_ workflow.Context, c obcluster.RegistryChange) error {
	switch c.Kind {
	case obcluster.ChangeJoinSelf:
		if m, ok := r.st.Master(); ok && m.Agent != c.Agent.Agent {
			return rejection(obshell.NewIdentifyNotSupportOperation(m.Agent.String(), obcluster.IdentityMaster, string(obcluster.IdentitySingle)))
		}
	case obcluster.ChangeJoinMaster, obcluster.ChangeBeFollower:
		m, ok := r.st.Agent(c.Master.String())
		if !ok || (m.Identity != obcluster.IdentityMaster) {
			return rejection(obshell.NewNoMaster())
		}
	case obcluster.ChangeObserverConfig:
		if len(c.Config) == 0 {
			return rejection(obshell.NewIllegalParameter("observerConfig", "config is empty"))
		}
		if err := r.checkScope(c.ScopeType, c.Targets); err != nil {
			return rejection(err)
		}
	case obcluster.ChangeClusterConfig:
		if c.Cluster == nil || c.Cluster.ID <= 0 || c.Cluster.Name == "" {
			return rejection(obshell.NewClusterIDInvalid())
		}
	case obcluster.ChangeAgentToSingle, obcluster.ChangeRemoveFollower, obcluster.ChangeRemoveMaster:
		if r.st.Initialized {
			addr := c.Agent.Agent.String()
			return rejection(obshell.NewIdentifyNotSupportOperation(addr, r.st.Identity(addr), "MASTER or FOLLOWER"))
		}
	default:
		return rejection(obshell.NewIllegalParameter("kind", string(c.Kind)))
	}
	return nil
}

// apply writes one stage's change and returns log lines for the sub-task.
func (r *registry) apply(ctx workflow.Context, c obcluster.RegistryChange) ([]string, error) {
	if err := r.validateApply(ctx, c); err != nil {
		return nil, err
	}
	addr := c.Agent.Agent.String()
	switch c.Kind {
	case obcluster.ChangeJoinSelf:
		rec := c.Agent
		rec.Identity = obcluster.IdentityMaster
		r.upsertAgent(rec)
		return []string{fmt.Sprintf("agent %s is MASTER of zone %s", addr, rec.Zone)}, nil
	case obcluster.ChangeJoinMaster:
		rec := c.Agent
		if old, ok := r.st.Agent(addr); ok {
			rec.Identity = old.Identity
		} else {
			rec.Identity = ""
		}
		r.upsertAgent(rec)
		return []string{fmt.Sprintf("master %s added agent %s (zone %s)", c.Master, addr, rec.Zone)}, nil
	case obcluster.ChangeBeFollower:
		rec := c.Agent
		rec.Identity = obcluster.IdentityFollower
		r.upsertAgent(rec)
		return []string{fmt.Sprintf("agent %s is FOLLOWER of %s in zone %s", addr, c.Master, rec.Zone)}, nil
	case obcluster.ChangeObserverConfig:
		return r.applyObserverConfig(c), nil
	case obcluster.ChangeClusterConfig:
		cc := *c.Cluster
		r.st.Cluster = &cc
		lines := []string{fmt.Sprintf("cluster config replaced: cluster=%s cluster_id=%d", cc.Name, cc.ID)}
		if cc.RsList != "" {
			lines = append(lines, "rootservice_list="+cc.RsList)
		}
		if c.RootPassword != nil {
			r.st.RootPassword = *c.RootPassword
			r.st.RootPwdSet = true
			lines = append(lines, "root password stored")
		}
		return lines, nil
	case obcluster.ChangeAgentToSingle:
		return r.applyAgentToSingle(addr)
	case obcluster.ChangeRemoveFollower:
		return r.applyRemoveFollower(addr)
	case obcluster.ChangeRemoveMaster:
		return r.applyRemoveMaster(addr)
	}
	return nil, rejection(obshell.NewIllegalParameter("kind", string(c.Kind)))
}

func (r *registry) upsertAgent(rec obcluster.AgentRecord) {
	for i := range r.st.Agents {
		if r.st.Agents[i].Agent == rec.Agent {
			r.st.Agents[i] = rec
			return
		}
	}
	r.st.Agents = append(r.st.Agents, rec)
}

// applyObserverConfig stores config with obshell's replace semantics per
// scope target: the scope's previous keys are dropped. Every value gets the
// next revision, which "Integrate config" uses to let the most recent
// write win across scopes.
func (r *registry) applyObserverConfig(c obcluster.RegistryChange) []string {
	r.st.ConfigRevision++
	rev := r.st.ConfigRevision
	values := make(map[string]obcluster.ConfigValue, len(c.Config))
	keys := make([]string, 0, len(c.Config))
	for k, v := range c.Config {
		values[k] = obcluster.ConfigValue{Value: v, Revision: rev}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	o := &r.st.Observer
	switch c.ScopeType {
	case obshell.ScopeGlobal:
		o.Global = values
	case obshell.ScopeZone:
		if o.Zone == nil {
			o.Zone = map[string]map[string]obcluster.ConfigValue{}
		}
		for _, z := range c.Targets {
			o.Zone[z] = cloneValues(values)
		}
	case obshell.ScopeServer:
		if o.Server == nil {
			o.Server = map[string]map[string]obcluster.ConfigValue{}
		}
		for _, t := range c.Targets {
			o.Server[t] = cloneValues(values)
		}
	}
	return []string{fmt.Sprintf("observer config of %s %s replaced: %s", c.ScopeType, strings.Join(c.Targets, ","), strings.Join(keys, ", "))}
}

func cloneValues(m map[string]obcluster.ConfigValue) map[string]obcluster.ConfigValue {
	out := make(map[string]obcluster.ConfigValue, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SetAgentPasswordRequest sets the password of the agent Agent ("ip:port").
// Password is a secret: it travels only in codec-encrypted payloads.
type SetAgentPasswordRequest struct {
	Agent    string `json:"agent"`
	Password string `json:"password"`
}

func (r *registry) validateSetAgentPassword(_ workflow.Context, req SetAgentPasswordRequest) error {
	if _, err := obshell.ParseAgentAddress(req.Agent); err != nil {
		return rejection(obshell.NewIllegalParameter("agent", req.Agent))
	}
	if req.Password == "" {
		return rejection(obshell.NewIllegalParameter("password", "password is empty"))
	}
	return nil
}

// setAgentPassword replaces the agent's password (obshell's
// SetAgentPassword overwrites ocs_info.agentRootPwd).
func (r *registry) setAgentPassword(ctx workflow.Context, req SetAgentPasswordRequest) error {
	if err := r.validateSetAgentPassword(ctx, req); err != nil {
		return err
	}
	if r.st.AgentPasswords == nil {
		r.st.AgentPasswords = map[string]string{}
	}
	r.st.AgentPasswords[req.Agent] = req.Password
	return nil
}
