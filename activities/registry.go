package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// Stage names of the agent DAGs (spec §2.4–§2.6). Like the init stages,
// each activity type equals obshell's task name.
const (
	JoinSelfName             = "Join self"
	JoinMasterName           = "Join to master"
	BeFollowerName           = "Be follower"
	UpdateObserverConfigName = "Update observer config"
	UpdateClusterConfigName  = "Update cluster config"

	// The remove DAGs' stages (obshell's ob/agent/executor/agent). The
	// stage "Remove follower agent <ip:port>" runs the activity
	// RemoveFollowerAgentName: activity types cannot carry an address.
	RemoveFollowerName      = "Remove follower"
	RemoveFollowerAgentName = "Remove follower agent"
	RemoveMasterName        = "Remove master"
	FollowerRemoveSelfName  = "Follower remove self"
	AgentToSingleName       = "Agent to single"
)

// RegistryApplyUpdate is the name of the cluster registry's Update that
// the agent-DAG stages call to write what obshell writes to its sqlite.
const RegistryApplyUpdate = "apply"

// Kinds of registry change, one per agent-DAG stage.
const (
	ChangeJoinSelf       = "join-self"
	ChangeJoinMaster     = "join-master"
	ChangeBeFollower     = "be-follower"
	ChangeObserverConfig = "observer-config"
	ChangeClusterConfig  = "cluster-config"
	// ChangeAgentToSingle turns Agent into a SINGLE agent as seen by the
	// cluster (obshell's "Agent to single" on the follower): its record
	// stays, without identity, until ChangeRemoveFollower deletes it.
	ChangeAgentToSingle = "agent-to-single"
	// ChangeRemoveFollower deletes Agent's record and its observer config
	// (the zone's too when it was the zone's last agent), as the master's
	// "Remove follower agent" task does.
	ChangeRemoveFollower = "remove-follower"
	// ChangeRemoveMaster clears the configs, the root password and every
	// agent record: the master and every agent left become SINGLE.
	ChangeRemoveMaster = "remove-master"
)

// AgentRecord is one agent as the cluster registry knows it (obshell's
// all_agent row plus what /api/v1/info reports).
type AgentRecord struct {
	IP        string `json:"ip"`
	Port      int    `json:"port"`
	Zone      string `json:"zone,omitempty"`
	Identity  string `json:"identity,omitempty"` // "" while a join is half-way (reported as SINGLE)
	Version   string `json:"version,omitempty"`
	OBVersion string `json:"obVersion,omitempty"`
	HomePath  string `json:"homePath,omitempty"`
	PublicKey string `json:"publicKey,omitempty"`
	// OS and Architecture are the agent host's, in obshell's names
	// (runtime.GOOS; x86_64, aarch64): obshell's join carries them to the
	// master, whose all_agent table holds them.
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
}

// Agent is the record's address.
func (r AgentRecord) Agent() Agent { return Agent{IP: r.IP, Port: r.Port} }

// RegistryChange is what one agent-DAG stage writes to the registry. Every
// change is idempotent: applying it twice leaves the registry as applying
// it once, so an activity retried after a lost response is harmless.
type RegistryChange struct {
	Kind  string      `json:"kind"`
	DagID string      `json:"dagId"` // generic id of the DAG, for logs
	Agent AgentRecord `json:"agent"` // the joining agent (join kinds)
	// Master is the master the agent joins (join-master, be-follower).
	Master Agent `json:"master,omitempty"`

	// Observer config: scope type GLOBAL, ZONE or SERVER, its targets
	// (zones or "ip:port"), and the keys to store with replace semantics.
	ScopeType string            `json:"scopeType,omitempty"`
	Targets   []string          `json:"targets,omitempty"`
	Config    map[string]string `json:"config,omitempty"`

	// Cluster config; RootPassword is a secret that only travels in
	// payloads the codec encrypts. Nil means "not sent".
	Cluster      *ClusterConfig `json:"cluster,omitempty"`
	RootPassword *string        `json:"rootPassword,omitempty"`
}

// RegistryChangeInput is the input of every agent-DAG stage activity.
type RegistryChangeInput struct {
	Registry string         `json:"registry"` // the registry's workflow id
	Change   RegistryChange `json:"change"`
}

// RegistryUpdater is the part of a Temporal client the registry activities
// use.
type RegistryUpdater interface {
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
}

// RegistryActivities write the agent DAGs' effects into the cluster
// registry, where obshell's tasks write its sqlite tables.
type RegistryActivities struct {
	Client RegistryUpdater
}

// Register registers the activity under every agent-DAG stage name.
func (a *RegistryActivities) Register(r worker.ActivityRegistry) {
	for _, name := range []string{JoinSelfName, JoinMasterName, BeFollowerName, UpdateObserverConfigName, UpdateClusterConfigName,
		RemoveFollowerName, RemoveFollowerAgentName, RemoveMasterName, FollowerRemoveSelfName, AgentToSingleName} {
		r.RegisterActivityWithOptions(a.Apply, activity.RegisterOptions{Name: name})
	}
}

// Apply sends the change to the registry and waits for it to be applied.
// The registry's validator rejects a change that no longer fits (e.g. the
// master left); that rejection fails the sub-task with its errCode.
func (a *RegistryActivities) Apply(ctx context.Context, in RegistryChangeInput) (Result, error) {
	log := &logbook{}
	log.Logf("apply %s of DAG %s to the cluster registry %s", in.Change.Kind, in.Change.DagID, in.Registry)
	h, err := a.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   in.Registry,
		UpdateName:   RegistryApplyUpdate,
		Args:         []any{in.Change},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return Result{}, registryError(log, err)
	}
	var lines []string
	if err := h.Get(ctx, &lines); err != nil {
		return Result{}, registryError(log, err)
	}
	for _, l := range lines {
		log.Logf("%s", l)
	}
	return log.result(), nil
}

// registryError keeps an obshell errCode the registry rejected the change
// with, and makes transport errors retryable Common.Unexpected failures.
func registryError(log *logbook, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() != "" {
		return log.stop(app.Type(), nil, "%s", app.Message())
	}
	return log.retryable(ErrCommonUnexpected, err, "Unexpected error: update the cluster registry: %v", err)
}

func (c RegistryChange) String() string { return fmt.Sprintf("%s(%s)", c.Kind, c.DagID) }
