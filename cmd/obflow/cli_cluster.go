package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/starter"
)

// newClusterCmd is `obflow cluster create -f cluster.yaml`.
func newClusterCmd() *cobra.Command {
	cluster := &cobra.Command{
		Use:   "cluster",
		Short: "Create OceanBase clusters through the agents' obshell API",
	}
	var (
		file   string
		poll   time.Duration
		python bool
		script bool
	)
	create := clientCmd(&cobra.Command{
		Use:   "create -f cluster.yaml",
		Short: "Join the agents, configure them and initialize the cluster, with live progress",
		Long: `Runs obshell's cluster-creation flow over HTTP, exactly as the obshell SDKs do: join self on
the first server's agent (the master), join every other agent to it, observer config (global,
then per server), cluster config with the root password, and init; each DAG is waited for.

The root@sys password comes from $OBFLOW_ROOT_PASSWORD, or is asked for on the terminal. Running the
command again after an interruption watches the init that is already running.

Exit codes: 0 created, 1 agent unreachable or other error, 2 bad input, 3 a DAG failed (the
failed stage, host and last log line are printed), 4 password rejected, 130 interrupted.`,
		Example: `  OBFLOW_ROOT_PASSWORD=secret obflow cluster create -f cluster.yaml`,
	}, 0, 0, func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if file == "" {
			return usagef("give the topology file: obflow cluster create -f cluster.yaml")
		}
		topo, err := starter.LoadTopology(file)
		if err != nil {
			return err
		}
		pwd, err := starter.PasswordSource{}.ReadPassword("root@sys password for the new cluster: ", true)
		if err != nil {
			return err
		}
		casing := hybridauth.CasingGo
		if python {
			casing = hybridauth.CasingPython
		}
		_, err = createCluster(ctx, cmd.OutOrStdout(), topo, starter.Options{
			Password: pwd, PollEvery: poll, Casing: casing, ImportScript: script,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		return err
	})
	create.Flags().StringVarP(&file, "file", "f", "", "topology file (obd-like cluster.yaml)")
	create.Flags().DurationVar(&poll, "poll", starter.DefaultPollEvery, "how often DAGs are polled")
	create.Flags().BoolVar(&python, "python-sdk", false, "shape requests like the Python SDK instead of the Go SDK")
	create.Flags().BoolVar(&script, "import-script", false, "init's import_script")
	cluster.AddCommand(create)
	return cluster
}

// createCluster runs the starter with the live view and prints the outcome: on success the init
// DAG and how to reach the cluster, on failure the failed stage, host and last log line.
func createCluster(ctx context.Context, out io.Writer, topo *starter.Topology, opts starter.Options) (*starter.Result, error) {
	view := viewFor(out)
	opts.View = view
	s, err := starter.New(topo, opts)
	if err != nil {
		return nil, usageError{err}
	}
	fmt.Fprintf(out, "Creating cluster %s (id %d): %d servers in %d zones, master %s\n",
		topo.Cluster.Name, topo.Cluster.ID, len(topo.Servers), len(topo.Zones()), topo.Master().Agent())
	res, err := s.CreateCluster(ctx)
	view.Close()
	if err != nil {
		if dfe := asDagFailed(err); dfe != nil {
			fmt.Fprintln(out)
			starter.WriteFailure(out, dfe.Dag)
		}
		return res, err
	}
	init := res.Init
	fmt.Fprintf(out, "\nCluster %s initialized: %s %s, %d stages, %s in all", topo.Cluster.Name, init.Name, init.GenericID, init.MaxStage, res.Elapsed.Round(10*time.Millisecond))
	if res.Resumed {
		fmt.Fprint(out, " (resumed an init already under way)")
	}
	fmt.Fprintln(out)
	for _, srv := range topo.Servers {
		fmt.Fprintf(out, "  %-8s %-22s mysql -h %s -P %d -uroot@sys -p\n", srv.Zone, srv.Agent(), srv.IP, topo.MySQLPort(srv))
	}
	return res, nil
}

func asDagFailed(err error) *starter.DagFailedError {
	for err != nil {
		if d, ok := err.(*starter.DagFailedError); ok {
			return d
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil
		}
		err = u.Unwrap()
	}
	return nil
}
