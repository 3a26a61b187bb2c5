package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/devstack"
	"github.com/obflow/obflow/internal/termtest"
)

// TestDemoOnTerminal runs `obflow demo --exit-when-done` on a pseudo-terminal, where it draws the
// live view, and reads the screen it leaves: every DAG of the flow finished, so every step's bar
// is full beside its SUCCEED (a bar used to stay where the first poll past stage 1 left it).
func TestDemoOnTerminal(t *testing.T) {
	term, err := termtest.Open(160, 60)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer term.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	var hosts []devstack.Host
	for _, ip := range []string{"127.0.0.60", "127.0.0.61", "127.0.0.62"} {
		hosts = append(hosts, devstack.Host{IP: ip, AgentPort: 2886, Home: filepath.Join(dir, "hosts", ip)})
	}
	// Observers outlive the demo.
	t.Cleanup(func() { _ = devstack.StopObservers(hosts, 10*time.Second) })
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"demo", "--exit-when-done"}, devArgs(dir, "127.0.0.60")...)...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = term.TTY, term.TTY
	runErr := cmd.Run()
	out, err := term.Done()
	if err != nil {
		t.Fatal(err)
	}
	screen, err := termtest.Replay(out)
	if err != nil {
		t.Fatalf("%v in:\n%q", err, out)
	}
	t.Logf("final screen:\n%s", strings.Join(screen, "\n"))
	if runErr != nil {
		t.Fatalf("demo: %v", runErr)
	}
	steps := 0
	for _, l := range screen {
		bar, ok := termtest.Bar(l)
		if !ok || !strings.Contains(l, " at stage ") {
			continue
		}
		steps++
		if !strings.Contains(l, "SUCCEED at stage ") || bar != strings.Repeat("=", 22) {
			t.Errorf("a finished step without a full bar: %q", l)
		}
	}
	if init := termtest.Line(screen, "Initialize cluster"); !strings.Contains(init, "SUCCEED at stage 11/11") {
		t.Errorf("no finished init step on the screen: %q", init)
	}
	// Join self, two joins, the cluster config and the init.
	if steps != 5 {
		t.Errorf("%d step lines with a bar, want 5", steps)
	}
}
