package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/starter"
)

// newDagCmd is `obflow dag show|watch|retry|rollback|cancel|pass <id>`.
func newDagCmd() *cobra.Command {
	dag := &cobra.Command{
		Use:   "dag",
		Short: "Show, watch, operate and reset obshell DAGs through an agent's HTTP API",
		Long: `Every DAG is a Temporal workflow; these commands use the agents' obshell API like the SDKs.
The agent is --agent, else $OBFLOW_AGENT, else the agent the DAG id names. The password is
$OBFLOW_ROOT_PASSWORD (asked for on a terminal when unset).

Exit codes: 0 success, 1 agent unreachable or other error, 2 bad input, 3 the DAG failed or did not
reach the operator's outcome, 4 password rejected, 5 no such DAG, 130 interrupted.`,
	}

	var (
		agent    *string
		logs     int
		asJSON   bool
		interval time.Duration
	)
	show := clientCmd(&cobra.Command{
		Use:   "show <dag-id>",
		Short: "Print a DAG as a tree of stages and sub-tasks with states, hosts and last log lines",
	}, 1, 1, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		c, err := dagClient(*agent, args[0])
		if err != nil {
			return err
		}
		d, err := c.GetDag(ctx, args[0])
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(cmd.OutOrStdout(), d)
		}
		starter.WriteTree(cmd.OutOrStdout(), d, starter.TreeOptions{Logs: logs})
		if d.IsFailed() {
			return &starter.DagFailedError{Dag: d, Failures: starter.Explain(d)}
		}
		return nil
	})
	agent = agentFlag(show)
	show.Flags().IntVar(&logs, "logs", 0, "show each sub-task's last N log lines (default: the last line of unsuccessful ones)")
	show.Flags().BoolVar(&asJSON, "json", false, "print the DagDetailDTO as JSON")

	var watchAgent *string
	watch := clientCmd(&cobra.Command{
		Use:   "watch <dag-id>",
		Short: "Follow a DAG live until it finishes; exit 0 on SUCCEED, 3 on FAILED",
	}, 1, 1, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		c, err := dagClient(*watchAgent, args[0])
		if err != nil {
			return err
		}
		view := viewFor(cmd.OutOrStdout())
		view.Step("DAG " + args[0])
		d, err := starter.WaitDag(ctx, c, args[0], interval, view)
		view.StepDone("DAG "+args[0], d, err)
		view.Close()
		if d != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s/%s, stage %d/%d\n", d.Name, d.GenericID, d.State, d.Operator, d.Stage, d.MaxStage)
			if d.IsFailed() {
				starter.WriteFailure(cmd.OutOrStdout(), d)
			}
		}
		return err
	})
	watchAgent = agentFlag(watch)
	watch.Flags().DurationVar(&interval, "poll", starter.DefaultPollEvery, "poll interval")

	dag.AddCommand(show, watch)
	for _, op := range []obcluster.Operator{obcluster.OperatorRetry, obcluster.OperatorRollback, obcluster.OperatorCancel, obcluster.OperatorPass} {
		dag.AddCommand(newOperateCmd(op))
	}
	dag.AddCommand(newResetCmd())
	return dag
}

var operatorHelp = map[obcluster.Operator]string{
	obcluster.OperatorRetry:    "Retry a FAILED DAG from its failed stage and wait until it is SUCCEED",
	obcluster.OperatorRollback: "Roll back a FAILED DAG (undo its executed stages in reverse) and wait until SUCCEED/ROLLBACK",
	obcluster.OperatorCancel:   "Cancel an unfinished DAG and wait until FAILED/CANCEL",
	obcluster.OperatorPass:     "Mark a FAILED DAG as passed (SUCCEED/PASS) without running the rest",
}

func newOperateCmd(op obcluster.Operator) *cobra.Command {
	var (
		agent    *string
		interval time.Duration
		noWait   bool
	)
	name := strings.ToLower(op.String())
	cmd := clientCmd(&cobra.Command{
		Use:   name + " <dag-id>",
		Short: operatorHelp[op],
	}, 1, 1, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		c, err := dagClient(*agent, args[0])
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if noWait {
			if err := c.OperateDag(ctx, args[0], op); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s posted for DAG %s\n", op, args[0])
			return nil
		}
		view := viewFor(out)
		view.Step(fmt.Sprintf("%s DAG %s", op, args[0]))
		d, err := starter.Operate(ctx, c, args[0], op, interval, view)
		view.StepDone(op.String(), d, err)
		view.Close()
		if d != nil && err == nil {
			fmt.Fprintf(out, "%s %s: %s/%s after %s\n", d.Name, d.GenericID, d.State, d.Operator, op)
		}
		if oe, ok := err.(*starter.OutcomeError); ok && oe.Dag.IsFailed() {
			starter.WriteFailure(out, oe.Dag)
		}
		return err
	})
	agent = agentFlag(cmd)
	cmd.Flags().DurationVar(&interval, "poll", starter.DefaultPollEvery, "poll interval while waiting")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "post the operator and return without waiting for its outcome")
	return cmd
}

// dagClient checks the id and builds the client of the chosen agent.
func dagClient(agentFlag, id string) (dagAPI, error) {
	if err := checkDagID(id); err != nil {
		return nil, err
	}
	addr, err := pickAgent(agentFlag, id)
	if err != nil {
		return nil, err
	}
	return newClient(addr)
}

// dagAPI is what the dag commands need from a client.
type dagAPI interface {
	GetDag(ctx context.Context, id string) (*obshell.DagDetailDTO, error)
	OperateDag(ctx context.Context, id string, op obcluster.Operator) error
}
