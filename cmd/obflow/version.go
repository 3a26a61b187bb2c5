package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	uiversion "github.com/temporalio/ui-server/v2/server/version"
	sdktemporal "go.temporal.io/sdk/temporal"
	"go.temporal.io/server/common/headers"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print obflow's version and the Temporal versions it embeds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(),
				"obflow %s (%s)\nTemporal server %s, Go SDK %s, Web UI %s\n",
				obflowVersion(), runtime.Version(), headers.ServerVersion, sdktemporal.SDKVersion, uiversion.UIVersion)
			return err
		},
	}
}

// obflowVersion is the link-time version, else the module version when
// built with `go install module@version`, else "devel".
func obflowVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
