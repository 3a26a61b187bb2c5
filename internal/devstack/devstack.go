// Package devstack runs obflow's whole topology in one process on one machine, for `obflow dev`,
// `obflow demo` and tests: the embedded Temporal server and Web UI (package devserver), a
// coordinator worker, and N simulated hosts on loopback addresses 127.0.0.2, 127.0.0.3, ... (Linux
// routes all of 127.0.0.0/8 to lo). Each host has an agent (the obshell API of package api) on
// <ip>:2886, its host worker, and an observer home whose bin/observer is the OBServer simulator.
//
// Everything lives under one data directory, so a restart on the same directory picks up where
// the last run stopped: Temporal's database (every DAG workflow resumes on the new workers), the
// agents' RSA keys, the observer homes (observers keep running across restarts, as they outlive
// obshell agents), and the stack's shape:
//
//	temporal.db, temporal.log, codec.key   the dev server (package devserver)
//	stack.json                             zones, hosts per zone, first address
//	cluster.yaml                           a starter topology for these hosts
//	obflow.log                             the agents' and workers' log
//	hosts/<ip>/                            observer home (bin/observer, etc/, store/, log/, run/)
//	agents/<ip>/agent.key                  the agent's RSA key (owner-only)
package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"gopkg.in/yaml.v3"

	"github.com/obflow/obflow/activities"
	"github.com/obflow/obflow/api"
	"github.com/obflow/obflow/internal/devserver"
	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/metrics"
	"github.com/obflow/obflow/internal/obsim"
	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/starter"
	"github.com/obflow/obflow/worker"
)

// Defaults of Options.
const (
	DefaultZones        = 3
	DefaultHostsPerZone = 1
	DefaultFirstIP      = "127.0.0.2"
	DefaultAgentPort    = 2886
	DefaultMySQLPort    = 2881
	DefaultClusterName  = "obdemo"
	DefaultClusterID    = 1

	stackFile   = "stack.json"
	clusterFile = "cluster.yaml"
	logFile     = "obflow.log"
)

// Options configure Start.
type Options struct {
	DataDir      string
	Zones        int    // default 3
	HostsPerZone int    // default 1
	FirstIP      string // first host address, default 127.0.0.2; the next hosts count up
	// TemporalPort, UIPort and CodecPort of the dev server; 0 picks free ports.
	TemporalPort, UIPort, CodecPort int
	// Logger receives the agents' and workers' logs; default: <data dir>/obflow.log.
	Logger *slog.Logger
	// ObserverBinary is installed as each host's bin/observer: a program that runs the OBServer
	// simulator when started under that name (the obflow binary does). Empty: build
	// ./cmd/observer-sim of the enclosing module (obsim.Install), for tests.
	ObserverBinary string
	// MetricsAddr, if set, serves the process's Prometheus metrics (the embedded Temporal
	// server's, every agent's and worker's: one endpoint) at http://<MetricsAddr>/metrics; port 0
	// picks a free one.
	MetricsAddr string
}

// Shape is what a data directory was created with; a restart must keep it.
type Shape struct {
	Zones        int    `json:"zones"`
	HostsPerZone int    `json:"hostsPerZone"`
	FirstIP      string `json:"firstIp"`
}

// Host is one simulated host.
type Host struct {
	IP        string
	AgentPort int
	Zone      string
	Home      string // observer home; bin/observer is the simulator
	MySQLPort int
}

// Agent is the host's agent address.
func (h Host) Agent() string { return net.JoinHostPort(h.IP, strconv.Itoa(h.AgentPort)) }

// Stack is a running dev stack. Stop it with Stop.
type Stack struct {
	Server *devserver.Server
	Hosts  []Host
	Shape  Shape

	dir     string
	client  client.Client
	workers []sdkworker.Worker
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errc    chan error
	logF    *os.File
	metrics *metrics.Metrics
	once    sync.Once
	stopErr error
}

// ShapeMismatchError is a restart with other zones or hosts than the data dir was made with.
type ShapeMismatchError struct {
	Dir        string
	Have, Want Shape
}

func (e *ShapeMismatchError) Error() string {
	return fmt.Sprintf("data dir %s holds a stack of %d zone(s) × %d host(s) from %s; use the same flags or another --data-dir (asked for %d × %d from %s)",
		e.Dir, e.Have.Zones, e.Have.HostsPerZone, e.Have.FirstIP, e.Want.Zones, e.Want.HostsPerZone, e.Want.FirstIP)
}

func (o *Options) shape() (Shape, error) {
	s := Shape{Zones: o.Zones, HostsPerZone: o.HostsPerZone, FirstIP: o.FirstIP}
	if s.Zones == 0 {
		s.Zones = DefaultZones
	}
	if s.HostsPerZone == 0 {
		s.HostsPerZone = DefaultHostsPerZone
	}
	if s.FirstIP == "" {
		s.FirstIP = DefaultFirstIP
	}
	if s.Zones < 1 || s.HostsPerZone < 1 || s.Zones*s.HostsPerZone > 64 {
		return s, fmt.Errorf("zones %d × hosts per zone %d: want at least one host and at most 64", s.Zones, s.HostsPerZone)
	}
	ip := net.ParseIP(s.FirstIP).To4()
	if ip == nil || !ip.IsLoopback() {
		return s, fmt.Errorf("first ip %q: want an IPv4 loopback address such as 127.0.0.2", s.FirstIP)
	}
	if int(ip[3])+s.Zones*s.HostsPerZone-1 > 254 {
		return s, fmt.Errorf("%d hosts from %s do not fit below %d.%d.%d.255", s.Zones*s.HostsPerZone, s.FirstIP, ip[0], ip[1], ip[2])
	}
	return s, nil
}

// hosts lays the hosts out zone by zone: zone1 gets the first HostsPerZone addresses.
func (s Shape) hosts(dir string) []Host {
	base := net.ParseIP(s.FirstIP).To4()
	var hs []Host
	for z := 0; z < s.Zones; z++ {
		for h := 0; h < s.HostsPerZone; h++ {
			ip := net.IPv4(base[0], base[1], base[2], base[3]+byte(z*s.HostsPerZone+h)).String()
			hs = append(hs, Host{IP: ip, AgentPort: DefaultAgentPort, Zone: fmt.Sprintf("zone%d", z+1),
				Home: filepath.Join(dir, "hosts", ip), MySQLPort: DefaultMySQLPort})
		}
	}
	return hs
}

// Start brings the stack up and returns once every agent listens.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("devstack: a data dir is required")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	shape, err := opts.shape()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &devserver.DataDirError{Dir: dir, Err: err}
	}
	if shape, err = loadOrSaveShape(dir, shape, opts); err != nil {
		return nil, err
	}
	st := &Stack{Shape: shape, Hosts: shape.hosts(dir), dir: dir, errc: make(chan error, 16)}
	defer func() {
		if err != nil {
			_ = st.Stop()
		}
	}()
	log := opts.Logger
	if log == nil {
		if st.logF, err = os.OpenFile(filepath.Join(dir, logFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, &devserver.DataDirError{Dir: dir, Err: err}
		}
		log = slog.New(slog.NewTextHandler(st.logF, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}

	// Bind every agent address first: a busy address is the most likely failure (another
	// `obflow dev`), and finding it before Temporal starts keeps the error quick and clear.
	lns := make([]net.Listener, len(st.Hosts))
	for i, h := range st.Hosts {
		if lns[i], err = net.Listen("tcp", h.Agent()); err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return nil, fmt.Errorf("agent address %s: %w (is another obflow dev running?)", h.Agent(), err)
		}
	}
	closeLns := func() {
		for _, l := range lns {
			if l != nil {
				l.Close()
			}
		}
	}

	if st.metrics, err = metrics.Start(opts.MetricsAddr, log); err != nil {
		closeLns()
		return nil, err
	}

	if st.Server, err = devserver.Start(ctx, devserver.Options{
		DataDir: dir, Port: opts.TemporalPort, UIPort: opts.UIPort, CodecPort: opts.CodecPort, Logger: log,
		MetricsMeter: st.metrics.Meter("go.temporal.io/server"),
	}); err != nil {
		closeLns()
		return nil, err
	}
	key, err := payloadcodec.LoadKey(st.Server.CodecKeyFile())
	if err != nil {
		closeLns()
		return nil, err
	}
	if st.client, err = worker.Dial(ctx, worker.ClientConfig{
		HostPort: st.Server.HostPort(), Namespace: st.Server.Namespace(), CodecKey: key,
		Identity: "obflow-dev", Logger: log, MetricsHandler: st.metrics.TemporalHandler(),
	}); err != nil {
		closeLns()
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	coord, err := worker.NewCoordinator(worker.CoordinatorConfig{Config: worker.Config{Client: st.client, Logger: log}})
	if err != nil {
		closeLns()
		return nil, err
	}
	st.workers = append(st.workers, coord)
	for i, h := range st.Hosts {
		if err := installObserver(h.Home, opts.ObserverBinary); err != nil {
			closeLns()
			return nil, fmt.Errorf("install the simulator in %s: %w", h.Home, err)
		}
		agentKey, err := hybridauth.LoadOrCreateKey(filepath.Join(dir, "agents", h.IP, "agent.key"))
		if err != nil {
			closeLns()
			return nil, err
		}
		hw, err := worker.NewHost(worker.HostConfig{
			Config: worker.Config{Client: st.client, Logger: log},
			Host:   activities.HostIdentity{IP: h.IP, AgentPort: h.AgentPort, HomePath: h.Home},
		})
		if err != nil {
			closeLns()
			return nil, err
		}
		st.workers = append(st.workers, hw)
		srv, err := api.New(api.Config{
			IP: h.IP, Port: h.AgentPort, HomePath: h.Home,
			Client: st.client, DataConverter: st.Server.DataConverter(), Key: agentKey, Logger: log,
			RefreshInterval: 250 * time.Millisecond, Metrics: st.metrics.Registerer(),
		})
		if err != nil {
			closeLns()
			return nil, err
		}
		ln := lns[i]
		lns[i] = nil
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			if err := srv.Run(runCtx, ln); err != nil && runCtx.Err() == nil {
				log.Error("agent stopped", "agent", h.Agent(), "err", err)
				st.errc <- fmt.Errorf("agent %s: %w", h.Agent(), err)
			}
		}()
	}
	for _, w := range st.workers {
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
	}
	if err := st.writeTopology(); err != nil {
		return nil, err
	}
	log.Info("dev stack up", "hosts", len(st.Hosts), "temporal", st.Server.HostPort(), "ui", st.Server.UIURL())
	return st, nil
}

// installObserver puts the simulator at <home>/bin/observer: bin when
// given (obflow itself), else a build of cmd/observer-sim.
func installObserver(home, bin string) error {
	if bin == "" {
		return obsim.Install(home)
	}
	return obsim.InstallBinary(home, bin)
}

func loadOrSaveShape(dir string, want Shape, opts Options) (Shape, error) {
	path := filepath.Join(dir, stackFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b, _ := json.MarshalIndent(want, "", "  ")
		return want, os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		return want, &devserver.DataDirError{Dir: dir, Err: err}
	}
	var have Shape
	if err := json.Unmarshal(b, &have); err != nil {
		return want, fmt.Errorf("%s: %w", path, err)
	}
	// Flags left at their zero value mean "whatever the data dir has".
	if (opts.Zones != 0 && opts.Zones != have.Zones) || (opts.HostsPerZone != 0 && opts.HostsPerZone != have.HostsPerZone) ||
		(opts.FirstIP != "" && opts.FirstIP != have.FirstIP) {
		return want, &ShapeMismatchError{Dir: dir, Have: have, Want: want}
	}
	return have, nil
}

// Topology is the starter's topology for these hosts.
func (s *Stack) Topology() *starter.Topology {
	t := &starter.Topology{Cluster: starter.ClusterSpec{Name: DefaultClusterName, ID: DefaultClusterID}}
	for _, h := range s.Hosts {
		t.Servers = append(t.Servers, starter.Server{IP: h.IP, AgentPort: h.AgentPort, Zone: h.Zone, HomePath: h.Home})
	}
	return t
}

// TopologyFile is the cluster.yaml written for these hosts.
func (s *Stack) TopologyFile() string { return filepath.Join(s.dir, clusterFile) }

// LogFile is where the agents and workers log (unless Options.Logger was given).
func (s *Stack) LogFile() string { return filepath.Join(s.dir, logFile) }

// DataDir is the stack's data directory (absolute).
func (s *Stack) DataDir() string { return s.dir }

// Client is the stack's Temporal client (with the payload codec).
func (s *Stack) Client() client.Client { return s.client }

// MetricsURL is the metrics endpoint (http://host:port/metrics), "" without Options.MetricsAddr.
func (s *Stack) MetricsURL() string { return s.metrics.URL() }

// Err reports agents that stopped on their own.
func (s *Stack) Err() <-chan error { return s.errc }

func (s *Stack) writeTopology() error {
	b, err := yaml.Marshal(s.Topology())
	if err != nil {
		return err
	}
	head := "# The hosts of `obflow dev` in this data dir. Create the cluster with:\n" +
		"#   OBFLOW_ROOT_PASSWORD=... obflow cluster create -f " + s.TopologyFile() + "\n"
	return os.WriteFile(s.TopologyFile(), append([]byte(head), b...), 0o644)
}

// Stop stops the agents, the workers and the Temporal server. Observers keep running (an
// observer outlives its agent, as with obshell); StopObservers stops them.
func (s *Stack) Stop() error {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		for _, w := range s.workers {
			w.Stop()
		}
		if s.client != nil {
			s.client.Close()
		}
		if s.Server != nil {
			s.stopErr = s.Server.Stop()
		}
		_ = s.metrics.Close()
		if s.logF != nil {
			s.logF.Close()
		}
	})
	return s.stopErr
}

// StopObservers sends SIGTERM to every host's observer (from its pid file) and waits up to
// timeout for them to exit.
func StopObservers(hosts []Host, timeout time.Duration) error {
	var errs []error
	var pids []int
	for _, h := range hosts {
		b, err := os.ReadFile(obsim.PidPath(h.Home))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pid, err := strconv.Atoi(string(trimSpace(b)))
		if err != nil || pid <= 1 || !obsim.ProcessAlive(pid) {
			continue
		}
		p, _ := os.FindProcess(pid)
		if err := p.Signal(os.Interrupt); err != nil {
			errs = append(errs, fmt.Errorf("observer %d of %s: %w", pid, h.IP, err))
			continue
		}
		pids = append(pids, pid)
	}
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for obsim.ProcessAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if obsim.ProcessAlive(pid) {
			p, _ := os.FindProcess(pid)
			_ = p.Kill()
		}
	}
	return errors.Join(errs...)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// WriteAddresses prints where everything is.
func (s *Stack) WriteAddresses(w io.Writer) {
	fmt.Fprintf(w, "Temporal   %s (namespace %s)\n", s.Server.HostPort(), s.Server.Namespace())
	fmt.Fprintf(w, "Web UI     %s (codec endpoint %s)\n", s.Server.UIURL(), s.Server.CodecEndpoint())
	if u := s.MetricsURL(); u != "" {
		fmt.Fprintf(w, "Metrics    %s\n", u)
	}
	fmt.Fprintf(w, "Data dir   %s (log: %s)\n", s.dir, s.LogFile())
	fmt.Fprintf(w, "Hosts      %-8s %-18s %-18s %s\n", "zone", "agent (obshell API)", "MySQL", "observer home")
	for _, h := range s.Hosts {
		fmt.Fprintf(w, "           %-8s %-18s %-18s %s\n", h.Zone, h.Agent(), net.JoinHostPort(h.IP, strconv.Itoa(h.MySQLPort)), h.Home)
	}
}
