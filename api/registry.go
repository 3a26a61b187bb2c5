package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/taskqueue"
	"github.com/obflow/obflow/workflows"
)

// registryClient keeps a snapshot of the cluster registry's state. Every
// request reads the snapshot; it is refreshed in the background, after
// every change this agent makes, and on demand when a password does not
// match (the "Update cluster config" DAG may just have stored a new one).
// When no worker answers queries the last snapshot stays in use, so auth
// and DTOs keep working while workers are down.
type registryClient struct {
	c      registryTemporal
	id     string
	logger *slog.Logger

	mu sync.RWMutex
	st *workflows.RegistryState
	// asked is when the query that answered st was sent: st holds every
	// registry change completed before then.
	asked time.Time

	refreshMu sync.Mutex // one query at a time
}

// registryTemporal is the part of a Temporal client the registry client
// uses.
type registryTemporal interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
}

func newRegistryClient(c registryTemporal, id string, logger *slog.Logger) *registryClient {
	return &registryClient{c: c, id: id, logger: logger, st: &workflows.RegistryState{}}
}

// ensureStarted starts the registry workflow unless it runs already.
func (r *registryClient) ensureStarted(ctx context.Context) error {
	_, err := r.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       r.id,
		TaskQueue:                taskqueue.Coordinator,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "obflow cluster registry: agents, configs, maintenance locks, DAG ids",
	}, workflows.RegistryWorkflowName, workflows.RegistryState{})
	if err != nil {
		return fmt.Errorf("start the cluster registry %s: %w", r.id, err)
	}
	return nil
}

// snapshot returns the current snapshot (never nil).
func (r *registryClient) snapshot() *workflows.RegistryState {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.st
}

// refresh queries the registry: the state it returns has every change
// completed before the call. Concurrent callers share a query, but only
// one sent after they called: a query already on its way (e.g. the
// background refresh) may predate a change the caller has seen finish,
// such as the master's "Join self", and would let a follower's join be
// refused on a stale identity.
func (r *registryClient) refresh(ctx context.Context) (*workflows.RegistryState, error) {
	called := time.Now()
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if r.askedAt().After(called) { // a later caller's query answered meanwhile
		return r.snapshot(), nil
	}
	asked := time.Now()
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := r.c.QueryWorkflow(qctx, r.id, "", workflows.QueryRegistryState)
	if err != nil {
		return r.snapshot(), fmt.Errorf("query the cluster registry: %w", err)
	}
	var st workflows.RegistryState
	if err := v.Get(&st); err != nil {
		return r.snapshot(), fmt.Errorf("decode the cluster registry: %w", err)
	}
	r.mu.Lock()
	r.st, r.asked = &st, asked
	r.mu.Unlock()
	return &st, nil
}

func (r *registryClient) askedAt() time.Time {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.asked
}

// run refreshes the snapshot every interval until ctx ends.
func (r *registryClient) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.refresh(ctx); err != nil && ctx.Err() == nil {
			r.logger.Debug("registry refresh failed; keeping the last snapshot", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// createDag asks the registry for a DAG. Rejections come back as the
// obshell errors the registry's validator chose.
func (r *registryClient) createDag(ctx context.Context, req workflows.CreateDagRequest) (workflows.CreateDagResponse, error) {
	var resp workflows.CreateDagResponse
	h, err := r.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   r.id,
		UpdateName:   workflows.UpdateCreateDag,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &resp)
	}
	if err != nil {
		return resp, createError(req.Name, err)
	}
	if _, rerr := r.refresh(ctx); rerr != nil {
		r.logger.Warn("registry refresh after create failed", "err", rerr)
	}
	return resp, nil
}

// createError maps a rejected create-dag Update to obshell's answer:
// "Create task '<dag>' failed: <cause>" keeps the cause's code for
// Agent.UnderMaintenance (WrapRetain, CONTRACT.md §6.5); identity and config
// errors are returned as the handler would return them.
func createError(name string, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() != "" {
		oe := obshell.FromWire(app.Type(), app.Message())
		if oe.ErrCode() == obshell.CodeAgentUnderMaintenance.Code {
			return obshell.NewTaskCreateFailed(name, oe)
		}
		return oe
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return obshell.NewTaskCreateFailed(name, obshell.NewUnexpected("the cluster registry is not running"))
	}
	return obshell.NewTaskCreateFailed(name, obshell.NewUnexpected(err.Error()))
}

// setAgentPassword stores agent's password in the registry and refreshes
// the snapshot, so the next request is checked against it.
func (r *registryClient) setAgentPassword(ctx context.Context, agent, password string) error {
	h, err := r.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   r.id,
		UpdateName:   workflows.UpdateSetAgentPassword,
		Args:         []any{workflows.SetAgentPasswordRequest{Agent: agent, Password: password}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() != "" {
			return obshell.FromWire(app.Type(), app.Message())
		}
		return obshell.NewUnexpected(fmt.Sprintf("store the agent password: %v", err))
	}
	if _, rerr := r.refresh(ctx); rerr != nil {
		r.logger.Warn("registry refresh after setting the agent password failed", "err", rerr)
	}
	return nil
}
