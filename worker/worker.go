// Package worker builds obflow's Temporal workers: the coordinator worker,
// which runs every DAG workflow and the cluster-level activities on
// taskqueue.Coordinator, and one host worker per agent, which runs the
// activities that must happen on the observer's machine on
// taskqueue.Host(<agent ip:port>).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/internal/taskqueue"
	"github.com/obflow/obflow/workflows"
)

// ClientConfig is how a worker process reaches Temporal.
type ClientConfig struct {
	HostPort  string // e.g. 127.0.0.1:7233
	Namespace string // default "default"
	// CodecKey is the payload codec key (payloadcodec.LoadKey). Every
	// process of a deployment must use the same one; nil means no
	// encryption, which is only acceptable in unit tests.
	CodecKey []byte
	Identity string
	Logger   *slog.Logger
	// MetricsHandler receives the SDK's metrics (internal/metrics); nil
	// means none.
	MetricsHandler client.MetricsHandler
}

// Dial connects a client whose payloads go through the AES-GCM codec.
func Dial(ctx context.Context, cfg ClientConfig) (client.Client, error) {
	opts := client.Options{
		HostPort:  cfg.HostPort,
		Namespace: cfg.Namespace,
		Identity:  cfg.Identity,
	}
	opts.MetricsHandler = cfg.MetricsHandler
	if cfg.Logger != nil {
		opts.Logger = sdklog.NewStructuredLogger(cfg.Logger)
	}
	if cfg.CodecKey != nil {
		dc, err := payloadcodec.DataConverter(cfg.CodecKey)
		if err != nil {
			return nil, fmt.Errorf("payload codec: %w", err)
		}
		opts.DataConverter = dc
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", cfg.HostPort, err)
	}
	return c, nil
}

// Config is what both kinds of worker need.
type Config struct {
	// Client is connected with the payload codec (see Dial).
	Client client.Client
	Logger *slog.Logger
	// Identity names the worker in the Web UI (default: role, host, pid).
	Identity string
	// Interceptors are added to the worker (tracing, tests).
	Interceptors []interceptor.WorkerInterceptor
}

// CoordinatorConfig configures the coordinator worker.
type CoordinatorConfig struct {
	Config
	// Activities are the cluster-level activities; nil means
	// activities.NewClusterActivities(Logger).
	Activities *activities.ClusterActivities
}

// HostConfig configures the worker of one agent.
type HostConfig struct {
	Config
	// Host is this agent: its address selects the task queue, and every
	// host-local activity checks its input against it.
	Host activities.HostIdentity
	// Activities are the host-local activities; nil means
	// activities.NewHostActivities(Host, Logger).
	Activities *activities.HostActivities
}

// options are tuned for latency: a DAG is a chain of short stages, so
// what matters is how soon the next task is picked up, not throughput.
// Several pollers keep a long poll always waiting on the queue (a poller
// that just got a task is not polling), and the worker stops quickly.
func options(cfg Config, role string, logger *slog.Logger) sdkworker.Options {
	return sdkworker.Options{
		Interceptors:                           cfg.Interceptors,
		Identity:                               identity(cfg, role),
		MaxConcurrentWorkflowTaskPollers:       4,
		MaxConcurrentActivityTaskPollers:       4,
		MaxConcurrentActivityExecutionSize:     64,
		MaxConcurrentWorkflowTaskExecutionSize: 64,
		// A coordinator that dies loses its sticky cache; its workflows move
		// to the normal queue after this long instead of the default 5 s.
		StickyScheduleToStartTimeout: 2 * time.Second,
		WorkerStopTimeout:            5 * time.Second,
		// Eager activities: the server may hand a cluster-level activity
		// straight back to the coordinator that scheduled it.
		DisableEagerActivities: false,
		OnFatalError: func(err error) {
			logger.Error("worker stopped on a fatal error", "err", err)
		},
	}
}

func identity(cfg Config, role string) string {
	if cfg.Identity != "" {
		return cfg.Identity
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("obflow-%s@%s/%d", role, h, os.Getpid())
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// NewCoordinator builds the coordinator worker: every DAG workflow
// (workflows.Register), the cluster registry with the join and config DAGs
// (workflows.RegisterRegistry) and the cluster-level activities, on
// taskqueue.Coordinator. Start it with Run or its own Start/Run.
func NewCoordinator(cfg CoordinatorConfig) (sdkworker.Worker, error) {
	if cfg.Client == nil {
		return nil, errors.New("coordinator worker: no Temporal client")
	}
	log := logger(cfg.Logger).With("worker", "coordinator")
	acts := cfg.Activities
	if acts == nil {
		acts = activities.NewClusterActivities(log)
	}
	w := sdkworker.New(cfg.Client, taskqueue.Coordinator, options(cfg.Config, "coordinator", log))
	workflows.Register(w)
	workflows.RegisterRegistry(w)
	acts.Register(w)
	return w, nil
}

// NewHost builds the worker of one agent on taskqueue.Host(<ip:port>),
// with the host-local activities bound to that agent's identity.
func NewHost(cfg HostConfig) (sdkworker.Worker, error) {
	if cfg.Client == nil {
		return nil, errors.New("host worker: no Temporal client")
	}
	if cfg.Host.IP == "" || cfg.Host.AgentPort == 0 || cfg.Host.HomePath == "" {
		return nil, fmt.Errorf("host worker: incomplete host identity %+v (ip, agent port and home path are required)", cfg.Host)
	}
	agent := cfg.Host.Agent().String()
	log := logger(cfg.Logger).With("worker", "host", "agent", agent)
	acts := cfg.Activities
	if acts == nil {
		acts = activities.NewHostActivities(cfg.Host, log)
	}
	w := sdkworker.New(cfg.Client, taskqueue.Host(agent), options(cfg.Config, "host-"+agent, log))
	acts.Register(w)
	// The join and config DAG stages change the registry from the owner's host.
	(&activities.RegistryActivities{Client: cfg.Client}).Register(w)
	return w, nil
}

// Run starts the workers and blocks until ctx is done, then stops them.
// It returns the first error of starting.
func Run(ctx context.Context, workers ...sdkworker.Worker) error {
	started := make([]sdkworker.Worker, 0, len(workers))
	defer func() {
		for _, w := range started {
			w.Stop()
		}
	}()
	for _, w := range workers {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		started = append(started, w)
	}
	<-ctx.Done()
	return nil
}
