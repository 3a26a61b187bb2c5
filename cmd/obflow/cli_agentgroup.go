package main

import "github.com/spf13/cobra"

// addClientCommands adds the client-side commands (starter, DAG operations, dev stack, demo,
// deployment helpers) to root. `agent info` goes under the `agent` command when root has one
// (the agent process's own command) and under a plain `agent` group otherwise, so call this after
// every other command was added.
func addClientCommands(root *cobra.Command) {
	root.AddCommand(newClusterCmd(), newDagCmd(), newDevCmd(), newDemoCmd(),
		newCoordinatorWorkerCmd(), newTemporalSetupCmd(), newCodecServerCmd())
	for _, c := range root.Commands() {
		if c.Name() == "agent" {
			c.AddCommand(newAgentInfoCmd())
			return
		}
	}
	group := &cobra.Command{Use: "agent", Short: "Agent commands"}
	group.AddCommand(newAgentInfoCmd())
	root.AddCommand(group)
}
