package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// The remove DAGs of POST /api/v1/agent/remove (CONTRACT.md §7.6, obshell's
// ob/agent/executor/agent/{master,follower}_remove.go). obshell runs them
// on two agents that talk over RPC; obflow's registry is shared, so each
// DAG is one workflow whose stages write the registry from the hosts
// obshell runs them on:
//
//	Remove all agents (master removes itself):
//	  Remove follower (one sub-task per FOLLOWER, parallel) → Remove master
//	Remove follower agent <ip:port> (master removes a follower):
//	  Remove follower (on the follower) → Remove follower agent <ip:port> (on the master)
//	Follower remove self (a follower removes itself):
//	  Follower remove self → Agent to single (both on the follower)
//
// In obshell the follower's "Follower remove self" task asks the master to
// create its own one-stage "Remove follower agent <ip:port>" DAG; obflow
// does that DAG's write in the task itself, so there is no second DAG.
const (
	RemoveAllAgentsName    = "Remove all agents"
	FollowerRemoveSelfName = activities.FollowerRemoveSelfName
	// removeFollowerPrefix starts the name of the DAG that removes one
	// follower; the address follows.
	removeFollowerPrefix = activities.RemoveFollowerAgentName + " "
)

// RemoveFollowerDagName is obshell's name of the DAG that removes
// follower: "Remove follower agent <ip:port>".
func RemoveFollowerDagName(follower obcluster.Agent) string {
	return removeFollowerPrefix + follower.String()
}

// IsRemoveDag reports whether name is one of the remove DAGs.
func IsRemoveDag(name string) bool {
	return name == RemoveAllAgentsName || name == FollowerRemoveSelfName || strings.HasPrefix(name, removeFollowerPrefix)
}

// removeDagPlan builds a remove DAG's plan. followers are the targets of
// "Remove all agents"' first stage (none: the stage is left out, as
// obshell does). obshell gives "Remove master" no flag and the other tasks
// CanContinue (plus CanPass on "Remove follower"); obflow adds RETRY so
// that a failed remove does not hold the lock for ever.
func removeDagPlan(name string, dagID int64, owner, target obcluster.Agent, followers []obcluster.Agent, cluster string, opts PlanOptions) (Plan, error) {
	cont := Flags{CanContinue: true, CanRetry: true}
	var stages []Stage
	switch {
	case name == RemoveAllAgentsName:
		if len(followers) > 0 {
			st := Stage{Name: activities.RemoveFollowerName, Parallel: true, Flags: Flags{CanContinue: true, CanRetry: true, CanPass: true}}
			for _, f := range followers {
				st.Targets = append(st.Targets, HostTarget(f))
			}
			stages = append(stages, st)
		}
		stages = append(stages, Stage{Name: activities.RemoveMasterName, Targets: []Target{HostTarget(owner)}, Flags: Flags{CanRetry: true}})
	case name == FollowerRemoveSelfName:
		t := []Target{HostTarget(owner)}
		stages = []Stage{
			{Name: activities.FollowerRemoveSelfName, Targets: t, Flags: cont},
			{Name: activities.AgentToSingleName, Targets: t, Flags: cont},
		}
	case strings.HasPrefix(name, removeFollowerPrefix):
		stages = []Stage{
			{Name: activities.RemoveFollowerName, Targets: []Target{HostTarget(target)}, Flags: Flags{CanContinue: true, CanRetry: true, CanPass: true}},
			{Name: name, Activity: activities.RemoveFollowerAgentName, Targets: []Target{HostTarget(owner)}, Flags: cont},
		}
	default:
		return Plan{}, fmt.Errorf("unknown remove DAG %q", name)
	}
	return registryDagPlan(name, dagID, owner, cluster, stages, opts)
}

// removeFollowerDag runs every "Remove follower agent <ip:port>" DAG: its
// workflow type carries the address, so it is registered as the dynamic
// workflow and refuses any other type.
func removeFollowerDag(ctx workflow.Context, args converter.EncodedValues) (DagResult, error) {
	name := workflow.GetInfo(ctx).WorkflowType.Name
	if !strings.HasPrefix(name, removeFollowerPrefix) {
		return DagResult{}, fmt.Errorf("no workflow of type %q is registered", name)
	}
	var in AgentDagInput
	if err := args.Get(&in); err != nil {
		return DagResult{}, fmt.Errorf("decode the input of %q: %w", name, err)
	}
	return AgentDag(ctx, in)
}

// checkRemove applies obshell's agentRemoveHandler preconditions to a
// remove DAG (the owner's own lock is checked by check).
func (r *registry) checkRemove(req CreateDagRequest, owner string, identity obcluster.Identity) *obshell.Error {
	switch {
	case req.Name == RemoveAllAgentsName:
		if identity != obcluster.IdentityMaster {
			return obshell.NewIdentifyNotSupportOperation(owner, identity, "MASTER or FOLLOWER")
		}
	case req.Name == FollowerRemoveSelfName:
		if identity != obcluster.IdentityFollower {
			return obshell.NewIdentifyNotSupportOperation(owner, identity, "MASTER or FOLLOWER")
		}
		m, ok := r.st.Master()
		if !ok {
			return obshell.NewNoMaster()
		}
		if r.st.Locks[m.Agent.String()] != "" {
			return obshell.NewUnderMaintenance(m.Agent.String())
		}
	default:
		if identity != obcluster.IdentityMaster {
			return obshell.NewIdentifyNotSupportOperation(owner, identity, "MASTER or FOLLOWER")
		}
		target := req.Change.Agent.Agent
		if req.Name != RemoveFollowerDagName(target) {
			return obshell.NewIllegalParameter("name", fmt.Sprintf("DAG %q does not remove %s", req.Name, target))
		}
		a, ok := r.st.Agent(target.String())
		if !ok {
			return obshell.NewAgentNotExist(target.String())
		}
		if a.Identity != "" && a.Identity != obcluster.IdentityFollower {
			return obshell.NewIdentifyNotSupportOperation(target.String(), a.Identity, string(obcluster.IdentityFollower))
		}
		// obshell's "Remove follower" task asks the follower to create its
		// own maintenance DAG, which its lock would refuse.
		if r.st.Locks[target.String()] != "" {
			return obshell.NewUnderMaintenance(target.String())
		}
	}
	return nil
}

// alsoLocks are the agents besides the owner whose lock a DAG takes. In
// obshell, "Follower remove self" makes the master create its own
// maintenance DAG, and the master's "Remove follower" makes the follower
// create one: obflow has one DAG instead of two, so it holds both locks,
// and neither agent starts another maintenance DAG meanwhile (an init on
// the master cannot take in an agent that is leaving). Both were checked
// free by checkRemove.
func (r *registry) alsoLocks(req CreateDagRequest) []string {
	switch {
	case req.Name == FollowerRemoveSelfName:
		if m, ok := r.st.Master(); ok {
			return []string{m.Agent.String()}
		}
	case strings.HasPrefix(req.Name, removeFollowerPrefix):
		return []string{req.Change.Agent.Agent.String()}
	}
	return nil
}

// followers are the FOLLOWERs "Remove all agents" removes first.
func (r *registry) followers() []obcluster.Agent {
	var out []obcluster.Agent
	for _, a := range r.st.Agents {
		if a.Identity == obcluster.IdentityFollower {
			out = append(out, a.Agent)
		}
	}
	return out
}

// applyAgentToSingle is obshell's "Agent to single" on a follower.
func (r *registry) applyAgentToSingle(addr string) ([]string, error) {
	a, ok := r.st.Agent(addr)
	if !ok || a.Identity == "" {
		return []string{fmt.Sprintf("agent %s is already single agent", addr)}, nil
	}
	if a.Identity != obcluster.IdentityFollower {
		return nil, rejection(obshell.NewIdentifyNotSupportOperation(addr, a.Identity, string(obcluster.IdentityFollower)))
	}
	a.Identity = ""
	r.upsertAgent(a)
	return []string{"clearing ob config", fmt.Sprintf("change agent %s to single agent", addr), "set agent to single agent success"}, nil
}

// applyRemoveFollower is the master's "Remove follower agent" task: the
// follower's record goes, with its server config, and with its zone's
// config when no other agent is in the zone.
func (r *registry) applyRemoveFollower(addr string) ([]string, error) {
	lines := []string{fmt.Sprintf("finding agent %s info", addr)}
	a, ok := r.st.Agent(addr)
	if !ok {
		return append(lines, fmt.Sprintf("agent %s is not exists", addr)), nil
	}
	if a.Identity != "" && a.Identity != obcluster.IdentityFollower {
		return nil, rejection(obshell.NewIdentifyNotSupportOperation(addr, a.Identity, string(obcluster.IdentityFollower)))
	}
	inZone := 0
	for _, o := range r.st.Agents {
		if o.Zone == a.Zone {
			inZone++
		}
	}
	lines = append(lines, fmt.Sprintf("get zone '%s' agents", a.Zone))
	delete(r.st.Observer.Server, addr)
	if inZone < 2 {
		lines = append(lines, fmt.Sprintf("zone '%s' has no other follower agent, clearing zone and observer config", a.Zone))
		delete(r.st.Observer.Zone, a.Zone)
	} else {
		lines = append(lines, fmt.Sprintf("zone '%s' has other follower agent, deleting observer config", a.Zone))
	}
	lines = append(lines, fmt.Sprintf("deleting agent %s", addr))
	r.st.Agents = removeAgent(r.st.Agents, addr)
	return append(lines, fmt.Sprintf("remove follower agent %s success", addr)), nil
}

// applyRemoveMaster is "Remove master": obshell clears its ob config and
// global config and becomes SINGLE, which empties its all_agent table. In
// the shared registry that makes every agent SINGLE and leaves nothing of
// the cluster-to-be, so the agents can form a new one.
func (r *registry) applyRemoveMaster(addr string) ([]string, error) {
	if r.st.Initialized {
		return nil, rejection(obshell.NewIdentifyNotSupportOperation(addr, obcluster.IdentityClusterAgent, "MASTER or FOLLOWER"))
	}
	if a, ok := r.st.Agent(addr); ok && a.Identity != obcluster.IdentityMaster {
		return nil, rejection(obshell.NewIdentifyNotSupportOperation(addr, a.Identity, string(obcluster.IdentityMaster)))
	}
	lines := []string{"clearing ob config"}
	r.st.Observer = obcluster.ObserverConfig{}
	lines = append(lines, "clearing global config")
	r.st.Cluster = nil
	r.st.RootPassword, r.st.RootPwdSet = "", false
	lines = append(lines, "change agent to single agent")
	for _, a := range r.st.Agents {
		if a.Agent.String() != addr {
			lines = append(lines, fmt.Sprintf("agent %s removed from the cluster", a.Agent))
		}
	}
	r.st.Agents = nil
	return append(lines, "set agent to single agent success"), nil
}

func removeAgent(list []obcluster.AgentRecord, addr string) []obcluster.AgentRecord {
	out := list[:0:0]
	for _, a := range list {
		if a.Agent.String() != addr {
			out = append(out, a)
		}
	}
	return out
}
