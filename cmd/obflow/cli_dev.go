package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/obflow/obflow/internal/devstack"
	"github.com/obflow/obflow/starter"
	"github.com/obflow/obflow/workflows"
)

type devFlags struct {
	dataDir              string
	zones, hostsPerZone  int
	firstIP              string
	temporalPort, uiPort int
	codecPort            int
	metricsAddr          string
}

func (f *devFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dataDir, "data-dir", filepath.Join(DefaultDataDir, "dev"), "directory for Temporal's database, the observer homes and the agents' keys; a restart on it resumes")
	fl.IntVar(&f.zones, "zones", 0, fmt.Sprintf("number of zones (default %d; a restart keeps the data dir's)", devstack.DefaultZones))
	fl.IntVar(&f.hostsPerZone, "hosts-per-zone", 0, fmt.Sprintf("simulated hosts per zone (default %d)", devstack.DefaultHostsPerZone))
	fl.StringVar(&f.firstIP, "first-ip", "", "loopback address of the first host; the others count up (default "+devstack.DefaultFirstIP+")")
	fl.IntVar(&f.temporalPort, "temporal-port", 7233, "Temporal frontend port on 127.0.0.1 (0: any free port)")
	fl.IntVar(&f.uiPort, "ui-port", 8233, "Web UI port on 127.0.0.1 (0: any free port)")
	addMetricsFlag(fl, &f.metricsAddr)
	fl.IntVar(&f.codecPort, "codec-port", 8234, "payload codec endpoint port on 127.0.0.1, for the Web UI and `temporal --codec-endpoint` (0: any free port)")
}

func (f *devFlags) start(ctx context.Context, out io.Writer) (*devstack.Stack, error) {
	fmt.Fprintf(out, "Starting Temporal, its Web UI and the simulated hosts (data: %s) ...\n", f.dataDir)
	t0 := time.Now()
	// This binary is the hosts' bin/observer: started under that name it is the simulator
	// (cli_observer.go), so `obflow dev` needs no Go toolchain.
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	st, err := devstack.Start(ctx, devstack.Options{
		DataDir: f.dataDir, Zones: f.zones, HostsPerZone: f.hostsPerZone, FirstIP: f.firstIP,
		TemporalPort: f.temporalPort, UIPort: f.uiPort, CodecPort: f.codecPort, ObserverBinary: self,
		MetricsAddr: f.metricsAddr,
	})
	if err != nil {
		var sm *devstack.ShapeMismatchError
		if errors.As(err, &sm) {
			return nil, usageError{err}
		}
		return nil, err
	}
	fmt.Fprintf(out, "Up in %s.\n", time.Since(t0).Round(10*time.Millisecond))
	st.WriteAddresses(out)
	return st, nil
}

// newDevCmd is `obflow dev`: the whole topology on this machine until Ctrl-C.
func newDevCmd() *cobra.Command {
	var f devFlags
	cmd := clientCmd(&cobra.Command{
		Use:   "dev",
		Short: "Run Temporal, its Web UI and simulated hosts (agent + worker + observer each) on loopback addresses",
		Long: `Runs everything obflow needs on this machine, in this process: the embedded Temporal server and
Web UI, a coordinator worker, and N simulated hosts on 127.0.0.2, 127.0.0.3, ... (default three
zones with one host each), each with an agent (obshell's API) on :2886, its host worker, and an
observer home under the data dir whose bin/observer is the OBServer simulator.

It stays up until Ctrl-C. Starting it again on the same data dir resumes whatever was running:
every unfinished DAG workflow continues where it stopped. Observers keep running across restarts,
as observers outlive obshell agents; stop them with kill $(cat <data-dir>/hosts/*/run/observer.pid).`,
		Example: `  obflow dev
  OBFLOW_ROOT_PASSWORD=secret obflow cluster create -f .obflow/dev/cluster.yaml`,
	}, 0, 0, func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		out := cmd.OutOrStdout()
		st, err := f.start(ctx, out)
		if err != nil {
			return err
		}
		defer st.Stop()
		reportResumed(ctx, out, st)
		fmt.Fprintf(out, "Create a cluster on these hosts:\n  OBFLOW_ROOT_PASSWORD=<password> obflow cluster create -f %s\n", st.TopologyFile())
		fmt.Fprintln(out, "Ctrl-C stops the stack.")
		return waitStack(ctx, st)
	})
	f.register(cmd)
	return cmd
}

// waitStack blocks until Ctrl-C (a clean stop) or an agent fails.
func waitStack(ctx context.Context, st *devstack.Stack) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-st.Err():
		return err
	}
}

// reportResumed lists the DAG workflows that were running when the stack last stopped: their
// workers are back, so they continue now.
func reportResumed(ctx context.Context, out io.Writer, st *devstack.Stack) {
	resp, err := st.Client().ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: st.Server.Namespace(),
		Query:     fmt.Sprintf("ExecutionStatus = 'Running' AND WorkflowType != '%s'", workflows.RegistryWorkflowName),
	})
	if err != nil || len(resp.GetExecutions()) == 0 {
		return
	}
	fmt.Fprintln(out, "Resuming DAGs that were running:")
	for _, e := range resp.GetExecutions() {
		id := strings.TrimPrefix(e.GetExecution().GetWorkflowId(), "dag-")
		fmt.Fprintf(out, "  %s  %s  (obflow dag watch %s)\n", id, e.GetType().GetName(), id)
	}
}

// newDemoCmd is `obflow demo`: dev + the starter's whole flow with the live view.
func newDemoCmd() *cobra.Command {
	var (
		f            devFlags
		exitWhenDone bool
		poll         time.Duration
	)
	cmd := clientCmd(&cobra.Command{
		Use:   "demo",
		Short: "Run the dev stack and create a cluster on it over the obshell API, with live progress",
		Long: `Starts what 'obflow dev' starts, then drives obshell's cluster-creation flow over HTTP with v2
auth, as the obshell SDKs do: join self, join the followers, observer config, cluster config with a
root password, and init, showing each DAG's stage, per-host sub-task states and elapsed time. At
the end it prints the result, the Web UI link of the init workflow, and commands to inspect it.

The root password is $OBFLOW_ROOT_PASSWORD, or a random one kept in <data-dir>/root-password.
Run again on the same data dir, it resumes (or shows) the init it started.

Exit codes with --exit-when-done: 0 the cluster was created, 3 a DAG failed (stage, host and last
log line are printed), 1 another error, 130 interrupted.`,
	}, 0, 0, func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		out := cmd.OutOrStdout()
		pwd, pwdFile, err := demoPassword(f.dataDir)
		if err != nil {
			return err
		}
		st, err := f.start(ctx, out)
		if err != nil {
			return err
		}
		defer st.Stop()
		fmt.Fprintln(out)
		res, err := createCluster(ctx, out, st.Topology(), starter.Options{Password: pwd, PollEvery: poll, AcceptInitialized: true})
		var initID string
		switch {
		case res != nil && res.Init != nil:
			initID = res.Init.GenericID
		case asDagFailed(err) != nil && asDagFailed(err).Dag.Name == starter.DagInitCluster:
			initID = asDagFailed(err).Dag.GenericID
		}
		if initID != "" {
			writeInspect(out, st, initID, pwdFile)
		}
		if err != nil || exitWhenDone {
			return err
		}
		fmt.Fprintln(out, "\nThe stack stays up for you to look around; Ctrl-C stops it.")
		return waitStack(ctx, st)
	})
	f.register(cmd)
	cmd.Flags().BoolVar(&exitWhenDone, "exit-when-done", false, "exit when the init DAG finishes: 0 on SUCCEED, non-zero otherwise")
	cmd.Flags().DurationVar(&poll, "poll", 100*time.Millisecond, "how often DAGs are polled (the stack is local, so polling is cheap)")
	return cmd
}

// demoPassword is $OBFLOW_ROOT_PASSWORD, else the data dir's saved random password (created on
// the first run, so a second run resumes with the same credential). The file name is returned
// only when the password lives in it.
func demoPassword(dataDir string) (pwd, file string, err error) {
	if p, ok := os.LookupEnv(starter.PasswordEnv); ok {
		return p, "", nil
	}
	file, err = filepath.Abs(filepath.Join(dataDir, "root-password"))
	if err != nil {
		return "", "", err
	}
	if b, err := os.ReadFile(file); err == nil {
		return strings.TrimSpace(string(b)), file, nil
	}
	buf := make([]byte, 12)
	if _, err := rand.Read(buf); err != nil {
		return "", "", err
	}
	pwd = hex.EncodeToString(buf)
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(file, []byte(pwd+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return pwd, file, nil
}

// writeInspect prints the Web UI link of the init workflow and copy-paste commands to inspect it.
func writeInspect(out io.Writer, st *devstack.Stack, initID, pwdFile string) {
	wf := workflows.WorkflowID(initID)
	master := st.Hosts[0]
	pwdEnv := "OBFLOW_ROOT_PASSWORD=<password>"
	if pwdFile != "" {
		pwdEnv = fmt.Sprintf("OBFLOW_ROOT_PASSWORD=$(cat %s)", pwdFile)
	}
	fmt.Fprintf(out, "\nWeb UI of the init workflow:\n  %s/namespaces/%s/workflows/%s\n", st.Server.UIURL(), st.Server.Namespace(), url.PathEscape(wf))
	fmt.Fprintln(out, "Inspect it:")
	fmt.Fprintf(out, "  %s obflow dag show %s --agent %s\n", pwdEnv, initID, master.Agent())
	fmt.Fprintf(out, "  curl -s http://%s/api/v1/info\n", master.Agent())
	fmt.Fprintf(out, "  curl -s http://%s/api/v1/status\n", master.Agent())
	fmt.Fprintf(out, "  temporal workflow show --address %s --workflow-id %s --codec-endpoint %s\n", st.Server.HostPort(), wf, st.Server.CodecEndpoint())
	fmt.Fprintf(out, "  mysql -h %s -P %d -uroot@sys -p\n", master.IP, master.MySQLPort)
}
