package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkWebUI, with `obflow dev` running on the data dir of a finished demo, has headless Chromium
// render the init workflow's page of the embedded Web UI: the page must show the workflow (its
// type and id) and the stage activities by name. It saves the screenshot the README shows as
// docs/webui.png. Without Debian's chromium (scripts/install-chromium.sh) it skips.
func checkWebUI(t *testing.T, s *stack, initID string) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (run scripts/install-chromium.sh as root); skipping the browser check")
	}
	page := fmt.Sprintf("%s/namespaces/default/workflows/dag-%s", s.uiURL, initID)

	// The UI is a single-page app that loads the workflow over its API after the page loads;
	// the virtual time budget lets it finish those requests before the DOM is dumped.
	dom := runChromium(t, chromium, "--dump-dom", page)
	for _, want := range []string{
		"Initialize cluster", "dag-" + initID,
		"Integrate config", "Create observer workdir", "Start observer", "Cluster boostrap", "Synchronize agent from cluster",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the Web UI page of the init workflow does not show %q", want)
		}
	}
	if t.Failed() {
		os.WriteFile(filepath.Join(t.TempDir(), "dom.html"), []byte(dom), 0o644)
		t.Logf("rendered DOM (first 3000 bytes):\n%.3000s", dom)
		return
	}

	shot := filepath.Join(moduleRoot(t), "docs", "webui.png")
	runChromium(t, chromium, "--screenshot="+shot, "--hide-scrollbars", page)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot %s: %v (size %v)", shot, err, st)
	}
	b, _ := os.ReadFile(shot)
	if !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("%s is not a PNG", shot)
	}
}

func runChromium(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=30000",
		// The timeline draws only what fits the viewport: a tall window shows every stage.
		"--window-size=1440,1400",
	}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	cmd.Dir = t.TempDir()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}
