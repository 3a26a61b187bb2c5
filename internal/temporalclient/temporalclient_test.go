package temporalclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/internal/payloadcodec"
)

// fakeEnv is an envconfig.EnvLookup over a map.
type fakeEnv map[string]string

func (e fakeEnv) Environ() []string {
	var out []string
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func (e fakeEnv) LookupEnv(k string) (string, bool) { v, ok := e[k]; return v, ok }

// noConfigFile keeps the user's ~/.config/temporalio/temporal.toml out of
// the tests.
func noConfigFile(t *testing.T, env fakeEnv) fakeEnv {
	t.Helper()
	env["TEMPORAL_CONFIG_FILE"] = filepath.Join(t.TempDir(), "absent.toml")
	return env
}

func parse(t *testing.T, env fakeEnv, args ...string) Config {
	t.Helper()
	var c Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c.Env = noConfigFile(t, env)
	return c
}

func TestDefaults(t *testing.T) {
	t.Chdir(t.TempDir()) // no .obflow/codec.key here
	opts, err := parse(t, fakeEnv{}).Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != DefaultAddress || opts.Namespace != DefaultNamespace {
		t.Fatalf("defaults = %s %s", opts.HostPort, opts.Namespace)
	}
	if opts.ConnectionOptions.TLS != nil || opts.Credentials != nil || opts.DataConverter != nil {
		t.Fatal("defaults enable TLS, credentials or a codec")
	}
}

func TestEnvironmentThenFlags(t *testing.T) {
	t.Chdir(t.TempDir())
	env := fakeEnv{
		"TEMPORAL_ADDRESS":   "temporal.example:7233",
		"TEMPORAL_NAMESPACE": "prod",
		"TEMPORAL_API_KEY":   "secret-key",
	}
	opts, err := parse(t, env).Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "temporal.example:7233" || opts.Namespace != "prod" {
		t.Fatalf("from env = %s %s", opts.HostPort, opts.Namespace)
	}
	if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil {
		t.Fatal("API key from env did not set credentials and TLS")
	}

	opts, err = parse(t, env, "--address", "10.0.0.1:7233", "-n", "dev", "--tls=false").Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "10.0.0.1:7233" || opts.Namespace != "dev" {
		t.Fatalf("flags did not override env: %s %s", opts.HostPort, opts.Namespace)
	}
	if opts.ConnectionOptions.TLS != nil {
		t.Fatal("--tls=false did not disable TLS")
	}
}

func TestTLSFiles(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := parse(t, fakeEnv{}, "--tls-ca-path", "/nonexistent/ca.pem").Options(nil)
	if err == nil || !strings.Contains(err.Error(), "ca.pem") {
		t.Fatalf("missing CA file: err = %v", err)
	}
	opts, err := parse(t, fakeEnv{}, "--tls", "--tls-server-name", "temporal.internal").Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ConnectionOptions.TLS == nil || opts.ConnectionOptions.TLS.ServerName != "temporal.internal" {
		t.Fatalf("TLS = %+v", opts.ConnectionOptions.TLS)
	}
}

func TestCodecKeyFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	key, err := payloadcodec.LoadOrCreateKey(filepath.Join(dir, "k"))
	if err != nil {
		t.Fatal(err)
	}

	check := func(name string, c Config) {
		t.Helper()
		opts, err := c.Options(nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if opts.DataConverter == nil {
			t.Fatalf("%s: no codec", name)
		}
		// It must use this key: a payload sealed with it decodes.
		want, _ := payloadcodec.DataConverter(key)
		p, _ := want.ToPayload("x")
		var got string
		if err := opts.DataConverter.FromPayload(p, &got); err != nil || got != "x" {
			t.Fatalf("%s: codec does not use the key: %v", name, err)
		}
	}
	check("flag", parse(t, fakeEnv{}, "--codec-key-file", filepath.Join(dir, "k")))
	check("env", parse(t, fakeEnv{CodecKeyFileEnv: filepath.Join(dir, "k")}))

	if _, err := parse(t, fakeEnv{}, "--codec-key-file", filepath.Join(dir, "missing")).Options(nil); err == nil {
		t.Fatal("a missing named key file was accepted")
	}

	// The dev server's default location is picked up when present.
	if err := os.MkdirAll(".obflow", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "k"), DefaultCodecKeyFile); err != nil {
		t.Fatal(err)
	}
	check("default", parse(t, fakeEnv{}))

	// A Config built in code (no flag set) uses its non-zero fields.
	c := Config{Address: "h:1", CodecKeyFile: filepath.Join(dir, "k"), Env: noConfigFile(t, fakeEnv{"TEMPORAL_ADDRESS": "env:2"})}
	opts, err := c.Options(nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HostPort != "h:1" {
		t.Fatalf("code config address = %s", opts.HostPort)
	}
}

// TestMetricsHandler: the handler set by --metrics-addr reaches the client options; none by default.
func TestMetricsHandler(t *testing.T) {
	t.Chdir(t.TempDir())
	c := parse(t, fakeEnv{})
	if opts, err := c.Options(nil); err != nil || opts.MetricsHandler != nil {
		t.Fatalf("default metrics handler %v, %v", opts.MetricsHandler, err)
	}
	c.MetricsHandler = client.MetricsNopHandler
	if opts, err := c.Options(nil); err != nil || opts.MetricsHandler != client.MetricsNopHandler {
		t.Fatalf("metrics handler %v, %v", opts.MetricsHandler, err)
	}
}
