package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/internal/temporalclient"
	"github.com/obflow/obflow/starter"
	"github.com/obflow/obflow/workflows"
)

// newResetCmd is `obflow dag reset <id> --stage N`: the Temporal reset of a FAILED DAG's workflow to
// the start of one of its stages, which neither obshell nor the Temporal Web UI offers (Temporal
// resets to a workflow task, not to an activity). It is the one dag command that talks to
// Temporal; it follows the DAG through the agent like the others.
func newResetCmd() *cobra.Command {
	var (
		tc       temporalclient.Config
		agent    *string
		stage    int
		reason   string
		interval time.Duration
		noWait   bool
	)
	cmd := clientCmd(&cobra.Command{
		Use:   "reset <dag-id> --stage N",
		Short: "Reset a FAILED DAG's workflow to the start of stage N and wait until it finishes",
		Long: `Finds the workflow task that scheduled stage N's first sub-task, resets the DAG's workflow
there (a new run: stages before N are replayed from history, N and later run again; operators the
old run received after that point are not reapplied), prints the new run id and follows the DAG
until it finishes: exit 0 when it succeeds, 3 when it fails again.

Only a FAILED DAG waiting for an operator can be reset: a running one would race its own
workflow, and a finished one has released its maintenance lock. Connects to Temporal like every
obflow command (flags, else TEMPORAL_* from the environment) and to the agent like the other dag
commands.`,
	}, 1, 1, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		id := args[0]
		if stage == 0 {
			return usagef("--stage is required (see %s --help)", cmd.CommandPath())
		}
		c, err := dagClient(*agent, id)
		if err != nil {
			return err
		}
		before, err := c.GetDag(ctx, id)
		if err != nil {
			return err
		}
		if stage < 1 || stage > before.MaxStage {
			return usagef("stage %d is out of range: DAG %s %q has stages 1 to %d", stage, id, before.Name, before.MaxStage)
		}
		if !before.IsFailed() {
			if before.IsFinished() {
				return usagef("DAG %s %q has finished (%s/%s): its maintenance lock is released, so it cannot be reset", id, before.Name, before.State, before.Operator)
			}
			return usagef("DAG %s %q is %s at stage %d/%d: only a FAILED DAG can be reset (cancel it first)", id, before.Name, before.State, before.Stage, before.MaxStage)
		}
		if reason == "" {
			reason = fmt.Sprintf("obflow dag reset to stage %d", stage)
		}
		// The reset needs no payload: no codec-key warning on the terminal.
		opts, err := tc.Options(slog.New(slog.DiscardHandler))
		if err != nil {
			return usageError{err}
		}
		tcl, err := client.DialContext(ctx, opts)
		if err != nil {
			return fmt.Errorf("connect to temporal at %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)
		}
		defer tcl.Close()
		res, err := workflows.ResetDAG(ctx, tcl, opts.Namespace, id, stage, reason)
		var refused *workflows.ResetRefusedError
		switch {
		case errors.As(err, &refused):
			return usageError{err}
		case err != nil:
			return err
		}
		out := cmd.OutOrStdout()
		name := ""
		if stage <= len(before.Nodes) && before.Nodes[stage-1] != nil {
			name = " " + before.Nodes[stage-1].Name
		}
		fmt.Fprintf(out, "DAG %s %q reset to stage %d/%d%s: new run %s (was %s, reset at event %d)\n",
			id, before.Name, stage, before.MaxStage, name, res.RunID, res.OldRunID, res.EventID)
		if noWait {
			return nil
		}
		view := viewFor(out)
		view.Step(fmt.Sprintf("RESET DAG %s to stage %d", id, stage))
		d, err := starter.WaitDag(ctx, c, id, interval, view)
		view.StepDone("RESET", d, err)
		view.Close()
		if d != nil {
			fmt.Fprintf(out, "%s %s: %s/%s, stage %d/%d\n", d.Name, d.GenericID, d.State, d.Operator, d.Stage, d.MaxStage)
			if d.IsFailed() {
				starter.WriteFailure(out, d)
			}
		}
		return err
	})
	agent = agentFlag(cmd)
	tc.AddFlags(cmd.Flags())
	cmd.Flags().IntVar(&stage, "stage", 0, "the 1-based stage to reset to (required)")
	cmd.Flags().StringVar(&reason, "reason", "", `reason recorded with the reset (default "obflow dag reset to stage N")`)
	cmd.Flags().DurationVar(&interval, "poll", starter.DefaultPollEvery, "poll interval while waiting")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "reset and return without waiting for the DAG to finish")
	return cmd
}
