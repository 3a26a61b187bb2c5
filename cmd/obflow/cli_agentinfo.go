package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newAgentInfoCmd is `obflow agent info <host:port>`: the agent's /api/v1/info and
// /api/v1/status (neither needs a password). It doubles as the compose hosts' health check.
func newAgentInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := clientCmd(&cobra.Command{
		Use:   "info <ip:port>",
		Short: "Show an agent's identity, version, home path and observer state",
		Long: `Reads GET /api/v1/info and GET /api/v1/status, which need no password.

Exit codes: 0 the agent answered, 1 it could not be reached, 2 bad address.`,
	}, 1, 1, func(ctx context.Context, cmd *cobra.Command, args []string) error {
		addr, err := pickAgent(args[0], "")
		if err != nil {
			return err
		}
		c, err := newPlainClient(addr)
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return fmt.Errorf("agent %s: %w", addr, err)
		}
		status, err := c.Status(ctx)
		if err != nil {
			return fmt.Errorf("agent %s: %w", addr, err)
		}
		out := cmd.OutOrStdout()
		if asJSON {
			return writeJSON(out, map[string]any{"info": info, "status": status})
		}
		fmt.Fprintf(out, "agent       %s:%d\n", info.IP, info.Port)
		fmt.Fprintf(out, "identity    %s\n", info.Identity)
		fmt.Fprintf(out, "version     %s\n", info.Version)
		fmt.Fprintf(out, "zone        %s\n", orDash(info.Zone))
		fmt.Fprintf(out, "home path   %s\n", info.HomePath)
		fmt.Fprintf(out, "ob version  %s\n", orDash(info.OBVersion))
		fmt.Fprintf(out, "auth        %s\n", strings.Join(info.SupportedAuth, ","))
		fmt.Fprintf(out, "ob state    %d (%s)\n", status.OBState, obStateName(status.OBState))
		fmt.Fprintf(out, "maintenance %v\n", status.UnderMaintenance)
		return nil
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print info and status as JSON")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func obStateName(s int) string {
	switch s {
	case 0:
		return "observer not running"
	case 1:
		return "running, no connection"
	case 2:
		return "restricted"
	case 3:
		return "available"
	}
	return "unknown"
}
