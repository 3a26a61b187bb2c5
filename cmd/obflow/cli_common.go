package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/internal/obshellclient"
	"github.com/obflow/obflow/starter"
	"github.com/obflow/obflow/workflows"
)

// Exit codes of the client commands (cluster, dag, agent info, demo), for scripts:
//
//	0   success (the DAG reached the outcome asked for)
//	1   an agent could not be reached, or another error
//	2   bad input: usage, missing or invalid file, bad id, bad address
//	3   the DAG failed (or, after an operator, did not reach that operator's outcome)
//	4   the agent rejected the password
//	5   not found (no DAG with that id)
//	130 interrupted (Ctrl-C)
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitDagFailed   = 3
	exitAuth        = 4
	exitNotFound    = 5
	exitInterrupted = 130
)

// agentEnv names the agent the client commands talk to when --agent is not given.
const agentEnv = "OBFLOW_AGENT"

// usageError is bad input from the user.
type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitCodeOf maps an error to the exit code and the one-line message to print.
func exitCodeOf(err error) (int, string) {
	var (
		ue  usageError
		ve  *starter.ValidationError
		pe  *os.PathError
		dfe *starter.DagFailedError
		oe  *starter.OutcomeError
		ae  *obshellclient.APIError
	)
	msg := oneLineMsg(err.Error())
	var oe2 *net.OpError
	if errors.As(err, &oe2) && oe2.Op == "dial" && !errors.As(err, &ae) {
		msg = fmt.Sprintf("cannot reach the agent at %v: %v", oe2.Addr, oe2.Err)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return exitInterrupted, "interrupted"
	case errors.As(err, &ue), errors.As(err, &ve), errors.As(err, &pe):
		return exitUsage, msg
	case errors.As(err, &oe), errors.As(err, &dfe):
		return exitDagFailed, msg
	case errors.Is(err, starter.ErrNoPassword):
		return exitAuth, msg
	case errors.Is(err, workflows.ErrNoSuchDag):
		return exitNotFound, msg
	case errors.As(err, &ae):
		switch {
		case ae.Code == obshell.OldCodeUnauthorized || ae.HTTPStatus == http.StatusUnauthorized:
			return exitAuth, msg + fmt.Sprintf(" (set %s to the cluster's root@sys password)", starter.PasswordEnv)
		case ae.HTTPStatus == http.StatusNotFound:
			return exitNotFound, msg
		case ae.HTTPStatus == http.StatusBadRequest && strings.HasPrefix(ae.ErrCode, "Task.GenericID"):
			return exitUsage, msg
		}
	}
	return exitError, msg
}

func oneLineMsg(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// clientCmd wraps a client command: Ctrl-C cancels ctx, errors print as one line on stderr
// ("obflow: ...") and become the exit code, never a stack trace or a usage dump.
func clientCmd(cmd *cobra.Command, minArgs, maxArgs int, run func(ctx context.Context, cmd *cobra.Command, args []string) error) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		exitWith(c.ErrOrStderr(), usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())})
		return err
	})
	cmd.Run = func(c *cobra.Command, args []string) {
		if len(args) < minArgs || (maxArgs >= 0 && len(args) > maxArgs) {
			exitWith(c.ErrOrStderr(), usagef("usage: %s", c.UseLine()))
		}
		ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := run(ctx, c, args); err != nil {
			stop()
			exitWith(c.ErrOrStderr(), err)
		}
	}
	return cmd
}

func exitWith(w io.Writer, err error) {
	code, msg := exitCodeOf(err)
	fmt.Fprintf(w, "obflow: %s\n", msg)
	os.Exit(code)
}

// agentFlag adds --agent to cmd.
func agentFlag(cmd *cobra.Command) *string {
	return cmd.Flags().String("agent", "", "agent to talk to, ip:port (default $"+agentEnv+", else the agent a DAG id names)")
}

// pickAgent chooses the agent: the flag, the environment, or the owner encoded in a DAG id.
func pickAgent(flag, dagID string) (string, error) {
	addr := flag
	if addr == "" {
		addr = os.Getenv(agentEnv)
	}
	if addr == "" && dagID != "" {
		if g, err := obshell.ParseGenericID(dagID); err == nil && g.IsLocal() {
			addr = g.Agent.String()
		}
	}
	if addr == "" {
		return "", usagef("no agent: give --agent ip:port or set %s", agentEnv)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil && net.ParseIP(addr) == nil {
		return "", usagef("agent address %q: want ip:port", addr)
	}
	return addr, nil
}

// newClient builds an authenticated client. The password comes from $OBFLOW_ROOT_PASSWORD; when
// it is unset, a terminal is asked, and otherwise the empty password is tried (an agent not yet
// in a cluster accepts it).
func newClient(addr string) (*obshellclient.Client, error) {
	pwd, err := starter.PasswordSource{}.ReadPassword("root@sys password: ", false)
	switch {
	case errors.Is(err, starter.ErrNoPassword):
		pwd = ""
	case err != nil:
		return nil, err
	}
	c, err := obshellclient.New(addr, obshellclient.WithPassword(pwd),
		obshellclient.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// checkDagID rejects ids that cannot be obshell generic ids before any request.
func checkDagID(id string) error {
	if _, err := obshell.ParseGenericID(id); err != nil {
		return usagef("%q is not a DAG id (obshell generic id, e.g. 22130706434028861)", id)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// viewFor returns the live view for a terminal and the line view otherwise.
func viewFor(w io.Writer) starter.View { return starter.NewView(w) }

// newPlainClient is a client for the routes that need no password.
func newPlainClient(addr string) (*obshellclient.Client, error) {
	c, err := obshellclient.New(addr, obshellclient.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}
