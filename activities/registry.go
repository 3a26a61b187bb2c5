package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/obflow/obflow/internal/obcluster"
)

// Stage names of the agent DAGs (CONTRACT.md §7.1–§7.4). Like the init stages,
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

// RegistryChangeInput is the input of every agent-DAG stage activity.
type RegistryChangeInput struct {
	Registry string                   `json:"registry"` // the registry's workflow id
	Change   obcluster.RegistryChange `json:"change"`
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
