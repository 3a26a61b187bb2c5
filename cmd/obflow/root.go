package main

import "github.com/spf13/cobra"

// newRootCmd assembles the command tree. Add new commands here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "obflow",
		Short: "OceanBase cluster initialization as Temporal workflows, compatible with obshell's API",
		// Errors are printed once, by main; usage only for flag errors.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(
		newServerCmd(),
		newAgentCmd(),
		newVersionCmd(),
	)
	// Last: it attaches `agent info` to the agent command above.
	addClientCommands(root)
	return root
}
