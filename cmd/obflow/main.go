// Command obflow is obflow's one binary: the embedded Temporal dev server,
// the agent and workers, and the client commands. Each command lives in its
// own file as a newXxxCmd function; root.go puts them together.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	// The first SIGINT/SIGTERM cancels the context, so long-running commands
	// shut down cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "obflow:", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}
