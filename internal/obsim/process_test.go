package obsim_test

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obsim"
)

// TestObserverProcess covers the command line and the process life cycle:
// validation, busy ports, daemonizing, files, cmdline, restart from the
// saved config, SIGTERM and SIGKILL.
func TestObserverProcess(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.11", "zone1")

	out, err := h.launch(t, h.home+"/bin/observer -V")
	if err != nil || !strings.Contains(out, "observer (OceanBase_CE "+obsim.DefaultVersion+")") {
		t.Fatalf("-V: err=%v out=%q", err, out)
	}

	// A first start needs -n -c -z -p -P.
	out, err = h.launch(t, h.home+"/bin/observer -z 'zone1' -I '127.0.1.11' -p '2881' -P '2882'")
	if err == nil || !strings.Contains(out, "cluster name (-n)") || !strings.Contains(out, "cluster id (-c)") {
		t.Fatalf("missing flags: err=%v out=%q", err, out)
	}
	out, err = h.launch(t, h.command("c1", "7")+" --frobnicate 1")
	if err == nil || !strings.Contains(out, "frobnicate") {
		t.Fatalf("unknown flag: err=%v out=%q", err, out)
	}
	if _, err := os.Stat(obsim.ConfigPath(h.home)); err == nil {
		t.Fatal("a failed start wrote observer.config.bin")
	}

	// A busy port fails the start command with the reason.
	busy, err := net.Listen("tcp", "127.0.1.11:2882")
	if err != nil {
		t.Fatal(err)
	}
	out, err = h.launch(t, h.command("c1", "7"))
	busy.Close()
	if err == nil || !strings.Contains(out, "address already in use") {
		t.Fatalf("busy port: err=%v out=%q", err, out)
	}

	// The real start, from another working directory and with LD_LIBRARY_PATH set.
	cmd := exec.Command("/bin/bash", "-c", h.command("c1", "7"))
	cmd.Dir = "/"
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	launched := time.Since(start)
	h.waitReady(t, 30*time.Second)
	t.Logf("launch command returned after %v, ready after %v", launched, time.Since(start))

	for _, p := range []string{"etc/observer.config.bin", "log/observer.log", "run/observer.pid", "store/sstable/block_file"} {
		if _, err := os.Stat(filepath.Join(h.home, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	pid, err := h.pid()
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{h.home + "/bin/observer", "-n", "c1", "-c", "7", "-z", "zone1", "-I", "127.0.1.11", "-d", h.home + "/store", "-p", "2881", "-P", "2882", "-o", "memory_limit=16G,system_memory=8G"}
	if got := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"); strings.Join(got, " ") != strings.Join(wantArgs, " ") {
		t.Errorf("cmdline = %q, want %q", got, wantArgs)
	}
	var cfg map[string]any
	b, _ := os.ReadFile(obsim.ConfigPath(h.home))
	if err := json.Unmarshal(b, &cfg); err != nil || cfg["cluster_name"] != "c1" || cfg["zone"] != "zone1" {
		t.Errorf("config.bin = %s (%v)", b, err)
	}

	// A second start while running is refused.
	if out, err := h.launch(t, h.command("c1", "7")); err == nil || !strings.Contains(out, "already running") {
		t.Errorf("second start: err=%v out=%q", err, out)
	}

	// SIGTERM: clean exit, pid file removed.
	h.stop(t)
	if _, err := os.Stat(obsim.PidPath(h.home)); !os.IsNotExist(err) {
		t.Errorf("pid file after SIGTERM: %v", err)
	}
	if !strings.Contains(h.logTail(), "observer stopping") {
		t.Errorf("log lacks the stop line:\n%s", h.logTail())
	}

	// A later start with no options reads the saved config.
	if out, err := h.launch(t, h.home+"/bin/observer"); err != nil {
		t.Fatalf("restart from config: %v\n%s", err, out)
	}
	h.waitReady(t, 30*time.Second)

	// SIGKILL: gone at once.
	h.kill(t)
}

// TestStartFaults covers start delay, exit during start and crash after start.
func TestStartFaults(t *testing.T) {
	t.Parallel()
	t.Run("delay", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, "127.0.1.12", "zone1")
		writeFaults(t, h, obsim.Faults{StartDelayMS: 2500})
		start := time.Now()
		if out, err := h.launch(t, h.command("c1", "7")); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if err := h.ready(); err == nil {
			t.Fatal("ready before the start delay passed")
		}
		h.waitReady(t, 30*time.Second)
		if d := time.Since(start); d < 2500*time.Millisecond {
			t.Errorf("ready after %v, before the 2.5s delay", d)
		}
	})
	t.Run("exit", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, "127.0.1.13", "zone1")
		writeFaults(t, h, obsim.Faults{StartDelayMS: 200, ExitDuringStart: 3})
		if out, err := h.launch(t, h.command("c1", "7")); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		waitFor(t, 10*time.Second, func() bool { return strings.Contains(h.logTail(), "exiting during start") })
		time.Sleep(200 * time.Millisecond)
		if err := h.ready(); err == nil {
			t.Fatal("observer ready despite exiting during start")
		}
		if _, err := os.Stat(filepath.Join(h.home, "store/sstable/block_file")); err == nil {
			t.Error("block_file created by an observer that exited during start")
		}
	})
	t.Run("crash", func(t *testing.T) {
		t.Parallel()
		h := newHost(t, "127.0.1.14", "zone1")
		writeFaults(t, h, obsim.Faults{CrashAfterMS: 1500})
		h.start(t)
		pid, _ := h.pid()
		if !waitGone(pid, 15*time.Second) {
			t.Fatal("observer did not crash")
		}
		if _, err := os.Stat(obsim.PidPath(h.home)); err != nil {
			t.Errorf("a crash should leave the pid file: %v", err)
		}
	})
}

// TestRuntimeFaults covers bootstrap error and delay, refused connections and
// the reported version, switched while the observer runs.
func TestRuntimeFaults(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.15", "zone1")
	h.start(t)
	db := open(t, "root", "", h.ip, "")
	bootstrap := "ALTER SYSTEM BOOTSTRAP ZONE 'zone1' SERVER '127.0.1.15:2882'"

	writeFaults(t, h, obsim.Faults{BootstrapError: &obsim.SQLErrorSpec{Code: 4012, Message: "Timeout, simulated"}})
	_, err := db.Exec(bootstrap)
	expectErr(t, err, 4012, "simulated")

	writeFaults(t, h, obsim.Faults{BootstrapDelayMS: 1200})
	start := time.Now()
	exec1(t, db, bootstrap)
	if d := time.Since(start); d < 1200*time.Millisecond {
		t.Errorf("bootstrap took %v despite a 1.2s delay", d)
	}
	c, err := obsim.ReadCounters(h.home)
	if err != nil || c.Bootstrap != 2 || c.BootstrapOK != 1 {
		t.Errorf("counters %+v, %v", c, err)
	}

	writeFaults(t, h, obsim.Faults{Version: "4.3.5.1"})
	fresh := open(t, "root", "", h.ip, "")
	var v, ov string
	if err := fresh.QueryRow("SELECT VERSION(), ob_version()").Scan(&v, &ov); err != nil {
		t.Fatal(err)
	}
	if v != "5.7.25-OceanBase_CE-v4.3.5.1" || ov != "4.3.5.1" {
		t.Errorf("version %q ob_version %q", v, ov)
	}

	writeFaults(t, h, obsim.Faults{RefuseConnections: true})
	if err := open(t, "root", "", h.ip, "").Ping(); err == nil {
		t.Error("connection accepted while refusing")
	}
	writeFaults(t, h, obsim.Faults{})
	if err := open(t, "root", "", h.ip, "").Ping(); err != nil {
		t.Errorf("after clearing faults: %v", err)
	}

	// The leader keeps its cluster state across a restart.
	h.stop(t)
	h.start(t)
	var n int
	if err := open(t, "root", "", h.ip, "").QueryRow("SELECT COUNT(*) FROM oceanbase.DBA_OB_SERVERS WHERE WITH_ROOTSERVER = 'YES'").Scan(&n); err != nil || n != 1 {
		t.Errorf("after restart: %d servers, %v", n, err)
	}
	_, err = open(t, "root", "", h.ip, "").Exec(bootstrap)
	expectErr(t, err, 4015, "")
}

func writeFaults(t testing.TB, h *host, f obsim.Faults) {
	t.Helper()
	if err := obsim.WriteFaults(h.home, f); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
