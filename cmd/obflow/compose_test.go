package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/obflow/obflow/starter"
)

// No container engine runs where the tests run, so docker-compose.yml is checked by reading it:
// the services' shape, that every obflow command line is one the binary accepts, that every
// environment variable given to obflow is one obflow reads, the dependency graph, and that the
// addresses the agents are told are the ones their containers get and deploy/cluster.yaml names.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Networks map[string]*struct {
		IPv4 string `yaml:"ipv4_address"`
	} `yaml:"networks"`
	Volumes  []string `yaml:"volumes"`
	Restart  string   `yaml:"restart"`
	Profiles []string `yaml:"profiles"`
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root not at %s: %v", dir, err)
	}
	return dir
}

func loadCompose(t *testing.T, name string) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), name))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// obflowImages are the images built from this repository's Dockerfile.
func runsObflow(s composeService) bool {
	return s.Build != nil || s.Image == "obflow:dev" || strings.HasPrefix(s.Image, "obflow-host")
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t, "docker-compose.yml")
	for _, want := range []string{"postgresql", "temporal", "temporal-setup", "temporal-ui", "codec", "coordinator", "host1", "host2", "host3"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s is missing", want)
		}
	}
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		if s.Image != "" && !runsObflow(s) && (!strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest")) {
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
		for _, p := range s.Ports {
			host, ctr, ok := strings.Cut(p, ":")
			if !ok {
				t.Errorf("%s: port %q does not publish on a fixed host port", name, p)
				continue
			}
			for _, n := range []string{host, ctr} {
				if v, err := strconv.Atoi(n); err != nil || v < 1 || v > 65535 {
					t.Errorf("%s: port %q: %q is not a port", name, p, n)
				}
			}
			if other, dup := hostPorts[host]; dup {
				t.Errorf("%s and %s both publish host port %s", name, other, host)
			}
			hostPorts[host] = name
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(moduleRoot(t), src)); err != nil {
					t.Errorf("%s: bind mount %s: %v", name, src, err)
				}
				continue
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: volume %s is not declared", name, src)
			}
		}
	}
	// What a user reaches from the Docker host.
	for port, svc := range map[string]string{"7233": "temporal", "8080": "temporal-ui", "8081": "codec", "2886": "host1"} {
		if hostPorts[port] != svc {
			t.Errorf("host port %s is published by %q, want %s", port, hostPorts[port], svc)
		}
	}
	ui := c.Services["temporal-ui"].Environment
	if ui["TEMPORAL_CODEC_ENDPOINT"] != "http://localhost:8081" || ui["TEMPORAL_ADDRESS"] != "temporal:7233" {
		t.Errorf("temporal-ui environment = %v: the UI must reach Temporal and the browser the codec endpoint", ui)
	}
	if got := c.Services["codec"].Environment[codecOriginsEnv]; got != ui["TEMPORAL_CORS_ORIGINS"] {
		t.Errorf("codec allows origin %q, the UI is served from %q", got, ui["TEMPORAL_CORS_ORIGINS"])
	}
}

func TestComposeDependsOnHealth(t *testing.T) {
	c := loadCompose(t, "docker-compose.yml")
	for name, s := range c.Services {
		if name != "postgresql" && len(s.DependsOn) == 0 {
			t.Errorf("%s depends on nothing", name)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			switch d.Condition {
			case "service_healthy":
				if target.Healthcheck == nil || len(target.Healthcheck.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, but %s has no health check", name, dep, dep)
				}
			case "service_completed_successfully":
				if target.Restart != "no" {
					t.Errorf("%s waits for %s to complete, but %s restarts (%q)", name, dep, dep, target.Restart)
				}
			default:
				t.Errorf("%s depends on %s with condition %q; want service_healthy or service_completed_successfully", name, dep, d.Condition)
			}
		}
		// Long-running services need a health check of their own.
		if s.Restart != "no" && len(s.Profiles) == 0 && (s.Healthcheck == nil || len(s.Healthcheck.Test) == 0) {
			t.Errorf("%s runs for good but has no health check", name)
		}
	}
}

// TestComposeCommandsAndEnv runs every obflow command line of the compose file (commands and
// health checks) through the real command tree: each subcommand and flag must exist. Every
// environment variable given to an obflow container must be one obflow's code reads.
func TestComposeCommandsAndEnv(t *testing.T) {
	c := loadCompose(t, "docker-compose.yml")
	reads := envNamesRead(t)
	for _, want := range []string{"OBFLOW_CODEC_KEY_FILE", "OBFLOW_ROOT_PASSWORD", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"} {
		if !reads[want] {
			t.Errorf("the scan of the code did not find %s: the scan is broken", want)
		}
	}
	for name, s := range c.Services {
		if !runsObflow(s) {
			continue
		}
		checkObflowArgs(t, name+" command", s.Command)
		if s.Healthcheck != nil && len(s.Healthcheck.Test) > 1 && s.Healthcheck.Test[0] == "CMD" {
			if s.Healthcheck.Test[1] != "obflow" {
				t.Errorf("%s: health check %v runs %s, which the obflow image does not have", name, s.Healthcheck.Test, s.Healthcheck.Test[1])
			} else {
				checkObflowArgs(t, name+" healthcheck", s.Healthcheck.Test[2:])
			}
		}
		for env := range s.Environment {
			if !reads[env] {
				t.Errorf("%s: environment variable %s is not read by obflow", name, env)
			}
		}
	}
}

func checkObflowArgs(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: empty", where)
		return
	}
	root := newRootCmd()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Errorf("%s %v: no such obflow command (%v)", where, args, err)
		return
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("%s %v: %s rejects its flags: %v", where, args, cmd.CommandPath(), err)
	}
	if cmd.Run == nil && cmd.RunE == nil {
		t.Errorf("%s %v: %s is not runnable", where, args, cmd.CommandPath())
	}
}

var envNameRE = regexp.MustCompile(`^(OBFLOW|TEMPORAL)_[A-Z0-9_]+$`)

// envNamesRead collects the OBFLOW_*/TEMPORAL_* string constants in obflow's non-test Go files,
// plus those of go.temporal.io/sdk/contrib/envconfig when obflow imports it (it reads the
// standard TEMPORAL_* variables).
func envNamesRead(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	usesEnvconfig := false
	scan := func(root string, own bool) {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "tmp" || strings.HasPrefix(d.Name(), ".")) && path != root {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				return nil // another package's file mid-edit; not ours to judge here
			}
			if own {
				for _, imp := range f.Imports {
					if imp.Path.Value == `"go.temporal.io/sdk/contrib/envconfig"` {
						usesEnvconfig = true
					}
				}
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && envNameRE.MatchString(s) {
						names[s] = true
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	scan(moduleRoot(t), true)
	if usesEnvconfig {
		out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "go.temporal.io/sdk/contrib/envconfig").Output()
		if err != nil {
			t.Fatalf("locate envconfig: %v", err)
		}
		scan(strings.TrimSpace(string(out)), false)
	}
	return names
}

// TestComposeAddresses: each agent is told (--ip) the fixed address its container has, inside
// the network's subnet, with distinct addresses, and deploy/cluster.yaml lists exactly those
// agents with the same home path.
func TestComposeAddresses(t *testing.T) {
	c := loadCompose(t, "docker-compose.yml")
	_, subnet, err := net.ParseCIDR(c.Networks["obflow"].IPAM.Config[0].Subnet)
	if err != nil {
		t.Fatalf("network obflow: %v", err)
	}
	seen := map[string]string{}
	agents := map[string]string{} // ip:port → home path
	for name, s := range c.Services {
		for nw, cfg := range s.Networks {
			if nw != "obflow" {
				t.Errorf("%s: unknown network %s", name, nw)
			}
			if cfg == nil || cfg.IPv4 == "" {
				continue
			}
			ip := net.ParseIP(cfg.IPv4)
			if ip == nil || !subnet.Contains(ip) {
				t.Errorf("%s: address %s is not in %s", name, cfg.IPv4, subnet)
			}
			if other, dup := seen[cfg.IPv4]; dup {
				t.Errorf("%s and %s share %s", name, other, cfg.IPv4)
			}
			seen[cfg.IPv4] = name
		}
		if len(s.Command) == 0 || s.Command[0] != "agent" {
			continue
		}
		root := newRootCmd()
		cmd, rest, err := root.Find(s.Command)
		if err != nil || cmd.ParseFlags(rest) != nil {
			t.Errorf("%s: bad agent command %v", name, s.Command)
			continue
		}
		ip, port, home := cmd.Flags().Lookup("ip"), cmd.Flags().Lookup("port"), cmd.Flags().Lookup("home-path")
		if ip == nil || port == nil || home == nil {
			t.Errorf("%s: the agent command lacks --ip, --port or --home-path", name)
			continue
		}
		if !ip.Changed || s.Networks["obflow"] == nil || ip.Value.String() != s.Networks["obflow"].IPv4 {
			t.Errorf("%s: agent told --ip %s, container address %v", name, ip.Value, s.Networks["obflow"])
		}
		addr := net.JoinHostPort(ip.Value.String(), port.Value.String())
		agents[addr] = home.Value.String()
		if hc := s.Healthcheck; hc == nil || !slices.Contains(hc.Test, addr) {
			t.Errorf("%s: health check does not ask the agent at %s", name, addr)
		}
	}
	if len(agents) != 3 {
		t.Fatalf("agents = %v, want three hosts", agents)
	}
	topo, err := starter.LoadTopology(filepath.Join(moduleRoot(t), "deploy", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Servers) != len(agents) {
		t.Errorf("deploy/cluster.yaml has %d servers, compose runs %d agents", len(topo.Servers), len(agents))
	}
	for _, srv := range topo.Servers {
		home, ok := agents[srv.Agent().String()]
		if !ok {
			t.Errorf("deploy/cluster.yaml names %s, which no compose agent is", srv.Agent())
		} else if home != srv.HomePath {
			t.Errorf("%s: cluster.yaml home_path %s, agent --home-path %s", srv.Agent(), srv.HomePath, home)
		}
	}
}

// TestComposeOceanBaseOverride: the real-OceanBase override only swaps the hosts' build.
func TestComposeOceanBaseOverride(t *testing.T) {
	base := loadCompose(t, "docker-compose.yml")
	ob := loadCompose(t, "docker-compose.oceanbase.yml")
	for name, s := range ob.Services {
		if _, ok := base.Services[name]; !ok {
			t.Errorf("override names %s, which docker-compose.yml lacks", name)
		}
		b, ok := s.Build.(map[string]any)
		if !ok || b["target"] != "host-oceanbase" {
			t.Errorf("%s: override build = %v, want target host-oceanbase", name, s.Build)
		}
	}
	df, err := os.ReadFile(filepath.Join(moduleRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"AS build", "AS runtime", "AS host", "AS host-oceanbase"} {
		if !strings.Contains(string(df), stage) {
			t.Errorf("Dockerfile lacks stage %q", stage)
		}
	}
}
