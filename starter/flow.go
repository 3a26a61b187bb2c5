package starter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
)

// DAG names of the flow, as obshell names them.
const (
	DagJoinSelf        = "Join self"
	DagJoinToMaster    = "Join to master"
	DagObserverConfig  = "Update observer config"
	DagClusterConfig   = "Update cluster config"
	DagInitCluster     = "Initialize cluster"
	DefaultPollEvery   = time.Second
	defaultPollRetries = 30
)

// Options configure a Starter.
type Options struct {
	// Password is the root@sys password the cluster gets (and the API requires afterwards).
	Password string
	// PollEvery is how often a DAG is polled (default 1 s; the SDKs use 2 s and 3 s).
	PollEvery time.Duration
	// View shows progress; nil shows nothing.
	View View
	// Casing selects the Go SDK's (default) or the Python SDK's request shapes.
	Casing hybridauth.Casing
	// HTTPClient replaces the default client (which has a 30 s request timeout).
	HTTPClient *http.Client
	// ImportScript is init's import_script.
	ImportScript bool
	// AcceptInitialized makes CreateCluster report an init that already succeeded as its
	// result (the demo, run again on its data dir) instead of ErrAlreadyInitialized.
	AcceptInitialized bool
	Logger            *slog.Logger
}

func (o *Options) defaults() {
	if o.PollEvery <= 0 {
		o.PollEvery = DefaultPollEvery
	}
	if o.View == nil {
		o.View = nopView{}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Starter drives the cluster-creation flow for one topology.
type Starter struct {
	topo    *Topology
	opts    Options
	clients map[string]*obshellclient.Client // by agent ip:port
}

// New builds the agents' clients; it contacts none of them.
func New(topo *Topology, opts Options) (*Starter, error) {
	opts.defaults()
	s := &Starter{topo: topo, opts: opts, clients: map[string]*obshellclient.Client{}}
	for _, srv := range topo.Servers {
		c, err := obshellclient.New(srv.Agent().String(),
			obshellclient.WithPassword(opts.Password),
			obshellclient.WithCasing(opts.Casing),
			obshellclient.WithHTTPClient(opts.HTTPClient),
			obshellclient.WithLogger(opts.Logger))
		if err != nil {
			return nil, err
		}
		s.clients[srv.Agent().String()] = c
	}
	return s, nil
}

// Master is the client of the master agent (the topology's first server).
func (s *Starter) Master() *obshellclient.Client { return s.clients[s.topo.Master().Agent().String()] }

// StepResult is one finished DAG of the flow.
type StepResult struct {
	Step    string // what the starter did, e.g. "Join 127.0.0.3:2886 to the master"
	Dag     *obshell.DagDetailDTO
	Elapsed time.Duration
}

// Result is a finished flow.
type Result struct {
	Steps   []StepResult
	Init    *obshell.DagDetailDTO // the final Initialize cluster DAG
	Resumed bool                  // the init DAG already existed and was only watched
	Elapsed time.Duration
}

// AgentError is a problem with one agent found before or during the flow.
type AgentError struct {
	Agent string
	Err   error
}

func (e *AgentError) Error() string { return fmt.Sprintf("agent %s: %v", e.Agent, e.Err) }
func (e *AgentError) Unwrap() error { return e.Err }

// ErrAlreadyInitialized is returned when the master already runs an initialized cluster and no
// init DAG of it is left to watch.
var ErrAlreadyInitialized = errors.New("the cluster is already initialized")

// Preflight reads /api/v1/info of every agent: each must answer, report the address the topology
// gives it, and (when home_path is set) the same home path. It returns the master's info.
func (s *Starter) Preflight(ctx context.Context) (*obshell.AgentStatus, error) {
	var master *obshell.AgentStatus
	for i, srv := range s.topo.Servers {
		addr := srv.Agent().String()
		info, err := s.clients[addr].Info(ctx)
		if err != nil {
			return nil, &AgentError{Agent: addr, Err: fmt.Errorf("not reachable: %w", err)}
		}
		if srv.HomePath != "" && info.HomePath != "" && info.HomePath != srv.HomePath {
			return nil, &AgentError{Agent: addr, Err: fmt.Errorf("its home path is %s, cluster.yaml says %s", info.HomePath, srv.HomePath)}
		}
		if i == 0 {
			master = info
			continue
		}
		if info.Identity != obcluster.IdentitySingle && master.Identity == obcluster.IdentitySingle {
			return nil, &AgentError{Agent: addr, Err: fmt.Errorf("it is already %s of another cluster; remove it first", info.Identity)}
		}
	}
	return master, nil
}

// CreateCluster runs the whole flow: join self, join each follower, observer config (global, then
// per server), cluster config with the root password, init; each DAG is waited for. When the
// master is no longer SINGLE and its last maintenance DAG is an init that is running or done, that
// init is watched instead (a second run of the same command after an interruption).
func (s *Starter) CreateCluster(ctx context.Context) (*Result, error) {
	start := time.Now()
	res := &Result{}
	master, err := s.Preflight(ctx)
	if err != nil {
		return nil, err
	}
	m := s.topo.Master()
	mc := s.Master()
	if master.Identity != obcluster.IdentitySingle {
		return s.resume(ctx, master, start)
	}
	step := func(name string, post func() (*obshell.DagDetailDTO, error)) error {
		t0 := time.Now()
		s.opts.View.Step(name)
		dag, err := post()
		if err != nil {
			err = fmt.Errorf("%s: %w", name, err)
			s.opts.View.StepDone(name, nil, err)
			return err
		}
		dag, err = s.Wait(ctx, mc, dag.GenericID)
		s.opts.View.StepDone(name, dag, err)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		res.Steps = append(res.Steps, StepResult{Step: name, Dag: dag, Elapsed: time.Since(t0)})
		return nil
	}

	if err := step(fmt.Sprintf("Join self (%s, %s)", m.Agent(), m.Zone), func() (*obshell.DagDetailDTO, error) {
		return mc.Join(ctx, obshell.JoinApiParam{AgentInfo: m.Agent(), ZoneName: m.Zone})
	}); err != nil {
		return res, err
	}
	for _, f := range s.topo.Followers() {
		fc := s.clients[f.Agent().String()]
		if err := step(fmt.Sprintf("Join %s (%s) to the master", f.Agent(), f.Zone), func() (*obshell.DagDetailDTO, error) {
			// No retry: the agent checks the master's identity against a
			// registry query sent after the request arrived, so the
			// master's "Join self" seen SUCCEED is seen by every agent.
			return fc.Join(ctx, obshell.JoinApiParam{AgentInfo: m.Agent(), ZoneName: f.Zone})
		}); err != nil {
			return res, err
		}
	}
	if len(s.topo.Global) > 0 {
		if err := step("Observer config (global)", func() (*obshell.DagDetailDTO, error) {
			return mc.ConfigObserver(ctx, obshell.ObServerConfigParams{
				ObServerConfig: s.topo.Global, Restart: true, Scope: obshell.Scope{Type: obshell.ScopeGlobal},
			})
		}); err != nil {
			return res, err
		}
	}
	for _, srv := range s.topo.Servers {
		if len(srv.Config) == 0 {
			continue
		}
		if err := step(fmt.Sprintf("Observer config (%s)", srv.Agent()), func() (*obshell.DagDetailDTO, error) {
			return mc.ConfigObserver(ctx, obshell.ObServerConfigParams{
				ObServerConfig: srv.Config, Restart: true,
				Scope: obshell.Scope{Type: obshell.ScopeServer, Target: []string{srv.Agent().String()}},
			})
		}); err != nil {
			return res, err
		}
	}
	name, id, pwd := s.topo.Cluster.Name, s.topo.Cluster.ID, s.opts.Password
	// ConfigObcluster makes pwd the candidate credential: the agent requires it as soon as the
	// DAG's task has stored it, in the middle of the wait below.
	if err := step(fmt.Sprintf("Cluster config (%s, id %d, root password)", name, id), func() (*obshell.DagDetailDTO, error) {
		return mc.ConfigObcluster(ctx, obshell.ObClusterConfigParams{ClusterName: &name, ClusterID: &id, RootPwd: &pwd})
	}); err != nil {
		return res, err
	}
	if err := step(DagInitCluster, func() (*obshell.DagDetailDTO, error) {
		return mc.Init(ctx, obshell.ObInitParam{ImportScript: s.opts.ImportScript})
	}); err != nil {
		return res, err
	}
	res.Init = res.Steps[len(res.Steps)-1].Dag
	res.Elapsed = time.Since(start)
	return res, nil
}

// resume watches the master's init DAG after an interrupted run.
func (s *Starter) resume(ctx context.Context, master *obshell.AgentStatus, start time.Time) (*Result, error) {
	mc := s.Master()
	last, err := mc.GetAgentLastMaintenanceDag(ctx)
	if err != nil {
		return nil, &AgentError{Agent: mc.Agent().String(), Err: fmt.Errorf("is %s and its last DAG cannot be read: %w", master.Identity, err)}
	}
	if last == nil || last.Name != DagInitCluster {
		if master.Identity == obcluster.IdentityClusterAgent {
			return nil, ErrAlreadyInitialized
		}
		return nil, &AgentError{Agent: mc.Agent().String(), Err: fmt.Errorf(
			"is already %s but has no init DAG (last DAG: %s); finish, roll back or remove it before creating the cluster again",
			master.Identity, describeDag(last))}
	}
	if last.IsSucceed() && !last.IsRun() {
		return nil, fmt.Errorf("the last init DAG %s ended %s/%s; start over after removing the agents", last.GenericID, last.State, last.Operator)
	}
	if last.IsSucceed() && !s.opts.AcceptInitialized {
		return nil, fmt.Errorf("%w: init DAG %s succeeded; nothing to do", ErrAlreadyInitialized, last.GenericID)
	}
	s.opts.View.Step(DagInitCluster + " (resumed)")
	dag, err := s.Wait(ctx, mc, last.GenericID)
	s.opts.View.StepDone(DagInitCluster, dag, err)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DagInitCluster, err)
	}
	return &Result{Init: dag, Resumed: true, Elapsed: time.Since(start),
		Steps: []StepResult{{Step: DagInitCluster, Dag: dag, Elapsed: time.Since(start)}}}, nil
}

func describeDag(d *obshell.DagDetailDTO) string {
	if d == nil {
		return "none"
	}
	return fmt.Sprintf("%s %q %s/%s", d.GenericID, d.Name, d.State, d.Operator)
}

// DagFailedError is a DAG that ended FAILED (or, after an operator, did not reach the outcome the
// SDKs wait for). Failures says where and why in plain words.
type DagFailedError struct {
	Dag      *obshell.DagDetailDTO
	Failures []Failure
}

func (e *DagFailedError) Error() string {
	if e.Dag.IsCancel() {
		return fmt.Sprintf("DAG %s %q was cancelled at stage %d/%d", e.Dag.GenericID, e.Dag.Name, e.Dag.Stage, e.Dag.MaxStage)
	}
	if len(e.Failures) == 0 {
		return fmt.Sprintf("DAG %s %q ended %s/%s; no failed sub-task found, see `obflow dag show %s`",
			e.Dag.GenericID, e.Dag.Name, e.Dag.State, e.Dag.Operator, e.Dag.GenericID)
	}
	return fmt.Sprintf("DAG %s %q failed: %s", e.Dag.GenericID, e.Dag.Name, e.Failures[0])
}

// Wait polls a DAG through c until it is SUCCEED (returned) or FAILED (returned with a
// *DagFailedError), showing each poll in the view. Like the Python SDK it tolerates a run of
// transient poll errors (an agent restarting) before giving up.
func (s *Starter) Wait(ctx context.Context, c DagGetter, id string) (*obshell.DagDetailDTO, error) {
	return WaitDag(ctx, c, id, s.opts.PollEvery, s.opts.View)
}

// WaitDag polls a DAG every interval until it is finished, like Starter.Wait; view may be nil.
func WaitDag(ctx context.Context, c DagGetter, id string, every time.Duration, view View) (*obshell.DagDetailDTO, error) {
	if view == nil {
		view = nopView{}
	}
	if every <= 0 {
		every = DefaultPollEvery
	}
	return waitDag(ctx, c, id, every, view, func(d *obshell.DagDetailDTO) bool { return d.IsFinished() })
}

// DagGetter is what waiting needs from a client (*obshellclient.Client has it).
type DagGetter interface {
	GetDag(ctx context.Context, id string) (*obshell.DagDetailDTO, error)
}

func waitDag(ctx context.Context, c DagGetter, id string, every time.Duration, view View, done func(*obshell.DagDetailDTO) bool) (*obshell.DagDetailDTO, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last *obshell.DagDetailDTO
	errs := 0
	for {
		dag, err := c.GetDag(ctx, id)
		switch {
		case err == nil:
			errs = 0
			last = dag
			view.Dag(dag)
			if done(dag) {
				if dag.IsFailed() {
					return dag, &DagFailedError{Dag: dag, Failures: Explain(dag)}
				}
				return dag, nil
			}
		case ctx.Err() != nil:
			return last, ctx.Err()
		case !transient(err):
			return last, fmt.Errorf("query dag %s: %w", id, err)
		default:
			errs++
			if errs > defaultPollRetries {
				return last, fmt.Errorf("query dag %s: %d failures in a row, last: %w", id, errs, err)
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// transient reports whether a poll error may go away by itself (the agent is restarting or
// overloaded) rather than being an answer (an API error other than a 5xx).
func transient(err error) bool {
	var ae *obshellclient.APIError
	if errors.As(err, &ae) {
		return ae.HTTPStatus >= 500 && ae.ErrCode != "Task.NotFound"
	}
	return true
}
