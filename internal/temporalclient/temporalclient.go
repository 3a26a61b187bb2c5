// Package temporalclient configures the Temporal client of every obflow
// command, so the same binary works against the embedded dev server, a
// self-hosted Temporal cluster or Temporal Cloud.
//
// Settings come, lowest precedence first, from the temporal CLI's config file
// profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), the standard environment
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*,
// TEMPORAL_GRPC_META_*), all through go.temporal.io/sdk/contrib/envconfig,
// and then command-line flags. Without any, the client dials
// 127.0.0.1:7233, namespace "default": the dev server's defaults.
//
// Payloads are encrypted with the payloadcodec key named by --codec-key-file
// or OBFLOW_CODEC_KEY_FILE, falling back to the dev server's key in
// ./.obflow/codec.key when that file exists.
package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	sdklog "go.temporal.io/sdk/log"

	"github.com/obflow/obflow/internal/payloadcodec"
)

const (
	// DefaultAddress and DefaultNamespace match the dev server's defaults.
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
	// DefaultCodecKeyFile is where `obflow server` keeps its key with the
	// default --data-dir.
	DefaultCodecKeyFile = ".obflow/codec.key"
	// CodecKeyFileEnv names the codec key file when --codec-key-file is unset.
	CodecKeyFileEnv = "OBFLOW_CODEC_KEY_FILE"
)

// Config holds the client settings given on the command line. Empty fields
// leave the environment's (or the config file's) value in place.
type Config struct {
	Address       string
	Namespace     string
	APIKey        string
	TLS           bool
	TLSCertPath   string
	TLSKeyPath    string
	TLSCAPath     string
	TLSServerName string
	CodecKeyFile  string

	// MetricsHandler receives the SDK's metrics (internal/metrics); nil
	// means none.
	MetricsHandler client.MetricsHandler

	// Env replaces the process environment (for tests). Nil means os.
	Env envconfig.EnvLookup

	flags *pflag.FlagSet
}

// AddFlags registers the client flags on fs, named like the temporal CLI's.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	c.flags = fs
	fs.StringVar(&c.Address, "address", "", "Temporal frontend host:port (env TEMPORAL_ADDRESS; default "+DefaultAddress+")")
	fs.StringVarP(&c.Namespace, "namespace", "n", "", "Temporal namespace (env TEMPORAL_NAMESPACE; default "+DefaultNamespace+")")
	fs.StringVar(&c.APIKey, "api-key", "", "API key, e.g. for Temporal Cloud; enables TLS (env TEMPORAL_API_KEY)")
	fs.BoolVar(&c.TLS, "tls", false, "connect with TLS (env TEMPORAL_TLS)")
	fs.StringVar(&c.TLSCertPath, "tls-cert-path", "", "client certificate for mTLS (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
	fs.StringVar(&c.TLSKeyPath, "tls-key-path", "", "client key for mTLS (env TEMPORAL_TLS_CLIENT_KEY_PATH)")
	fs.StringVar(&c.TLSCAPath, "tls-ca-path", "", "server CA certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	fs.StringVar(&c.TLSServerName, "tls-server-name", "", "server name for TLS verification (env TEMPORAL_TLS_SERVER_NAME)")
	fs.StringVar(&c.CodecKeyFile, "codec-key-file", "", "AES key file for payload encryption (env "+CodecKeyFileEnv+"; default "+DefaultCodecKeyFile+" if present)")
}

// Options resolves the configuration into client options, including the
// payload codec. logger, if not nil, becomes the SDK's logger.
func (c Config) Options(logger *slog.Logger) (client.Options, error) {
	env := c.Env
	if env == nil {
		env = envconfig.EnvLookupOS
	}
	prof, err := envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{EnvLookup: env})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client config: %w", err)
	}
	c.applyFlags(&prof)
	if prof.Address == "" {
		prof.Address = DefaultAddress
	}
	if prof.Namespace == "" {
		prof.Namespace = DefaultNamespace
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal client config: %w", err)
	}

	keyFile, err := c.codecKeyFile(env)
	if err != nil {
		return client.Options{}, err
	}
	if keyFile != "" {
		key, err := payloadcodec.LoadKey(keyFile)
		if err != nil {
			return client.Options{}, err
		}
		if opts.DataConverter, err = payloadcodec.DataConverter(key); err != nil {
			return client.Options{}, fmt.Errorf("codec key %s: %w", keyFile, err)
		}
	}
	if logger != nil {
		opts.Logger = sdklog.NewStructuredLogger(logger)
	}
	opts.MetricsHandler = c.MetricsHandler
	return opts, nil
}

// applyFlags overrides the profile with the flags given explicitly. Without
// AddFlags (a Config built in code), non-zero fields count as given.
func (c Config) applyFlags(p *envconfig.ClientConfigProfile) {
	set := func(name string, nonZero bool) bool {
		if c.flags != nil {
			return c.flags.Changed(name)
		}
		return nonZero
	}
	tlsConf := func() *envconfig.ClientConfigTLS {
		if p.TLS == nil {
			p.TLS = &envconfig.ClientConfigTLS{}
		}
		return p.TLS
	}
	if set("address", c.Address != "") {
		p.Address = c.Address
	}
	if set("namespace", c.Namespace != "") {
		p.Namespace = c.Namespace
	}
	if set("api-key", c.APIKey != "") {
		p.APIKey = c.APIKey
	}
	if set("tls", c.TLS) {
		tlsConf().Disabled = !c.TLS
	}
	if set("tls-cert-path", c.TLSCertPath != "") {
		tlsConf().ClientCertPath = c.TLSCertPath
	}
	if set("tls-key-path", c.TLSKeyPath != "") {
		tlsConf().ClientKeyPath = c.TLSKeyPath
	}
	if set("tls-ca-path", c.TLSCAPath != "") {
		tlsConf().ServerCACertPath = c.TLSCAPath
	}
	if set("tls-server-name", c.TLSServerName != "") {
		tlsConf().ServerName = c.TLSServerName
	}
}

// codecKeyFile picks the key file: the flag, else the environment, else the
// dev server's default when it exists. A named file must exist: creating a
// fresh key here would encrypt with a key no other process has.
func (c Config) codecKeyFile(env envconfig.EnvLookup) (string, error) {
	path := c.CodecKeyFile
	if path == "" {
		path, _ = env.LookupEnv(CodecKeyFileEnv)
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("codec key file: %w", err)
		}
		return path, nil
	}
	if _, err := os.Stat(DefaultCodecKeyFile); err == nil {
		return DefaultCodecKeyFile, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("codec key file: %w", err)
	}
	return "", nil
}

// Dial resolves cfg and connects, logging where to (and, as a warning, when
// payloads will not be encrypted). The caller closes the client.
func Dial(ctx context.Context, cfg Config, logger *slog.Logger) (client.Client, error) {
	if logger == nil {
		logger = slog.Default()
	}
	opts, err := cfg.Options(logger)
	if err != nil {
		return nil, err
	}
	if opts.DataConverter == nil {
		logger.Warn("no payload codec key configured; payloads are stored unencrypted",
			"flag", "--codec-key-file", "env", CodecKeyFileEnv)
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to temporal at %s (namespace %s): %w", opts.HostPort, opts.Namespace, err)
	}
	logger.Debug("connected to temporal", "address", opts.HostPort, "namespace", opts.Namespace,
		"tls", opts.ConnectionOptions.TLS != nil, "encrypted", opts.DataConverter != nil)
	return c, nil
}
