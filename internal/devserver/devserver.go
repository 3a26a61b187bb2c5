// Package devserver runs a complete Temporal development environment inside
// the obflow process, the way `temporal server start-dev` does: the Temporal
// server (frontend, history, matching and worker services) on SQLite, the
// Temporal Web UI, and a payload codec endpoint so the UI can show payloads
// encrypted by package payloadcodec.
//
// Everything lives under one data directory:
//
//	temporal.db (+ -wal, -shm)  the SQLite database: histories, visibility, namespaces
//	temporal.log                 the server's JSON log (nothing goes to the terminal)
//	codec.key                    the AES key every obflow client must share
//
// or, with Options.DatabaseURL, Temporal's data lives in two PostgreSQL
// databases instead of temporal.db: the URL's and <db>_visibility.
//
// On the first start Start creates the database (for PostgreSQL: the
// databases if missing and the schemas, with Temporal's own schema tool),
// the namespace with a dev-friendly retention and obflow's search
// attributes (searchattr.All). Later starts reuse them, upgrade an older
// PostgreSQL schema and add any search attribute that is missing.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	otelmetric "go.opentelemetry.io/otel/metric"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/obflow/obflow/internal/payloadcodec"
	"github.com/obflow/obflow/internal/searchattr"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultIP        = "127.0.0.1"
	DefaultNamespace = "default"
	// DefaultRetention keeps closed DAG workflows for a week: long enough to
	// inspect last week's runs in the UI and through obflow's API, short
	// enough that a dev database does not grow without bound.
	DefaultRetention = 7 * 24 * time.Hour

	// DefaultHistoryShards is the shard count of a new store.
	DefaultHistoryShards = 1

	DBFile       = "temporal.db"
	LogFile      = "temporal.log"
	CodecKeyFile = "codec.key"
)

// Options configure Start. Zero values select the defaults.
type Options struct {
	// DataDir holds the database, the server log and the codec key. It is
	// created if missing. Required.
	DataDir string
	// DatabaseURL, when set, keeps Temporal's data in PostgreSQL instead of
	// the SQLite file in DataDir: postgres://user:password@host:port/db
	// (or postgresql://, options such as ?sslmode=disable as for libpq).
	// The visibility store is database <db>_visibility. Missing databases
	// are created when the user may; the schemas are created or upgraded
	// to the ones bundled with the server.
	DatabaseURL string
	// HistoryShards is the history shard count of a new store (0:
	// DefaultHistoryShards). An existing store keeps the count it was
	// created with; a non-zero value that differs is a ShardCountError.
	HistoryShards int32
	// IP the frontend, UI and codec endpoint bind on. Default 127.0.0.1.
	IP string
	// Port of the frontend gRPC API. 0 picks a free port.
	Port int
	// UIPort of the Web UI. 0 picks a free port.
	UIPort int
	// CodecPort serves the payload codec endpoint the UI calls to decode
	// payloads. 0 picks a free port.
	CodecPort int
	// Headless disables the UI and the codec endpoint.
	Headless bool
	// Namespace to create on first start. Default "default".
	Namespace string
	// Retention of closed workflows, applied when the namespace is created.
	Retention time.Duration
	// LogLevel of the server log file. Default slog.LevelWarn (the server
	// logs a lot at info).
	LogLevel *slog.Level
	// SearchAttributes to register. Default searchattr.All.
	SearchAttributes map[string]enumspb.IndexedValueType
	// DynamicConfig overrides or extends DevDynamicConfig.
	DynamicConfig map[string]any
	// Logger receives obflow's own messages about the server (not the
	// server's log). Default: discard.
	Logger *slog.Logger
	// MetricsMeter, if set, receives the server's own metrics (its
	// OpenTelemetry handler, timers in seconds); nil: none, as before.
	MetricsMeter otelmetric.Meter
}

// DevDynamicConfig are the dynamic config values the dev server runs with.
var DevDynamicConfig = map[string]any{
	// The transfer queue is polled at 20 RPS by default, which adds about
	// 50 ms to every task dispatch: a DAG has dozens of them.
	"history.transferProcessorMaxPollRPS": 1000,
	// Timers (and activity retry backoffs) fire up to 1 s late by default.
	"history.timerProcessorMaxTimeShift": 100 * time.Millisecond,
	// Search attributes registered at start are usable at once instead of
	// after the cache refresh (the CLI's dev server does the same).
	"system.forceSearchAttributesCacheRefreshOnRead": true,
	// The refresh above reads the DB on every visibility call, so raise the
	// persistence limits, keeping the defaults' ratio.
	"frontend.persistenceMaxQPS": 10000,
	"history.persistenceMaxQPS":  45000,
	// Let the UI and the obflow API list workflows as often as they like.
	"frontend.namespaceRPS.visibility": 100,
}

// Server is a running dev server. Stop it with Stop.
type Server struct {
	opts      Options
	store     *store
	shards    int32
	hostPort  string
	uiURL     string
	codecURL  string
	key       []byte
	dc        converter.DataConverter
	temporal  temporal.Server
	ui        *uiserver.Server
	uiDone    chan struct{}
	codecHTTP *http.Server
	// codecListener is bound by reservePorts and served by startUI.
	codecListener net.Listener
	logFile       *logWriter
	zapLogger     *zap.Logger
	logLevel      zap.AtomicLevel
	stopOnce      sync.Once
	stopErr       error
}

// DataDirError reports a data directory that cannot be created or written.
type DataDirError struct {
	Dir string
	Err error
}

func (e *DataDirError) Error() string {
	return fmt.Sprintf("data dir %s is not writable: %v", e.Dir, e.Err)
}

func (e *DataDirError) Unwrap() error { return e.Err }

// Start starts the server and returns once the frontend answers client
// calls, the search attributes are registered and (unless headless) the UI
// answers. ctx bounds the start-up only.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{opts: opts}
	defer func() {
		if err != nil {
			_ = s.Stop()
			err = s.store.redact(err)
		}
	}()
	if opts.DatabaseURL == "" {
		s.store = sqliteStore(opts.DataDir)
	} else if s.store, err = postgresStore(opts.DatabaseURL); err != nil {
		return nil, err
	}

	if err := s.prepareDataDir(); err != nil {
		return nil, err
	}
	if s.key, err = payloadcodec.LoadOrCreateKey(filepath.Join(opts.DataDir, CodecKeyFile)); err != nil {
		return nil, &DataDirError{Dir: opts.DataDir, Err: err}
	}
	if s.dc, err = payloadcodec.DataConverter(s.key); err != nil {
		return nil, err
	}
	if err := s.reservePorts(); err != nil {
		return nil, err
	}

	cfg, err := s.serverConfig()
	if err != nil {
		return nil, err
	}
	if s.shards, err = s.prepareStore(ctx); err != nil {
		return nil, err
	}
	cfg.conf.Persistence.NumHistoryShards = s.shards
	sopts := s.serverOptions(cfg)
	if opts.MetricsMeter != nil {
		mo, err := metricsOption(opts.MetricsMeter, log.NewZapLogger(s.zapLogger))
		if err != nil {
			return nil, err
		}
		sopts = append(sopts, mo)
	}
	srv, err := temporal.NewServer(sopts...)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s.temporal = srv
	opts.Logger.Debug("temporal server started", "frontend", s.hostPort, "store", s.store.where,
		"history_shards", s.shards)

	if err := s.awaitFrontendAndRegister(ctx); err != nil {
		return nil, err
	}
	if !opts.Headless {
		if err := s.startUI(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (o *Options) setDefaults() error {
	if o.DataDir == "" {
		return errors.New("devserver: DataDir is required")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return &DataDirError{Dir: o.DataDir, Err: err}
	}
	o.DataDir = abs
	if o.IP == "" {
		o.IP = DefaultIP
	}
	if net.ParseIP(o.IP) == nil {
		return fmt.Errorf("devserver: %q: %w", o.IP, errNoIP)
	}
	for name, p := range map[string]int{"port": o.Port, "ui port": o.UIPort, "codec port": o.CodecPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("devserver: %s %d out of range", name, p)
		}
	}
	if o.HistoryShards < 0 {
		return fmt.Errorf("devserver: history shards %d: want 1 or more", o.HistoryShards)
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.LogLevel == nil {
		l := slog.LevelWarn
		o.LogLevel = &l
	}
	if o.SearchAttributes == nil {
		o.SearchAttributes = searchattr.All
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// prepareDataDir creates the data dir and opens the server log in it, which
// also proves the directory is writable before anything else happens.
func (s *Server) prepareDataDir() error {
	dir := s.opts.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &DataDirError{Dir: dir, Err: err}
	}
	f, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return &DataDirError{Dir: dir, Err: err}
	}
	// A directory can hold an existing file we may append to yet refuse new
	// files (e.g. read-only after the first run); SQLite needs new files for
	// its -wal and -shm, so probe for that too.
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		_ = f.Close()
		return &DataDirError{Dir: dir, Err: err}
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())

	s.logFile = &logWriter{f: f}
	s.logLevel = zap.NewAtomicLevelAt(zapLevel(*s.opts.LogLevel))
	s.zapLogger = zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(log.DefaultZapEncoderConfig),
		s.logFile,
		s.logLevel,
	))
	return nil
}

// reservePorts checks the fixed ports, picks free ones for the zeros, and
// binds the codec endpoint's port (we serve it ourselves, so we keep the
// listener instead of racing for the port later).
func (s *Server) reservePorts() error {
	o := &s.opts
	var err error
	if o.Port == 0 {
		if o.Port, err = FreePort(o.IP); err != nil {
			return err
		}
	} else if err := checkPortFree("frontend", hostPort(o.IP, o.Port)); err != nil {
		return err
	}
	s.hostPort = hostPort(dialIP(o.IP), o.Port)
	if o.Headless {
		return nil
	}
	if o.UIPort == 0 {
		if o.UIPort, err = FreePort(o.IP); err != nil {
			return err
		}
	} else if err := checkPortFree("ui", hostPort(o.IP, o.UIPort)); err != nil {
		return err
	}
	if o.UIPort == o.Port {
		return &PortInUseError{Name: "ui", Addr: hostPort(o.IP, o.UIPort), Err: errors.New("same as the frontend port")}
	}
	codecAddr := hostPort(o.IP, o.CodecPort)
	l, err := net.Listen("tcp", codecAddr)
	if err != nil {
		return &PortInUseError{Name: "codec", Addr: codecAddr, Err: err}
	}
	o.CodecPort = l.Addr().(*net.TCPAddr).Port
	if o.CodecPort == o.Port || o.CodecPort == o.UIPort {
		_ = l.Close()
		return &PortInUseError{Name: "codec", Addr: codecAddr, Err: errors.New("same as the frontend or UI port")}
	}
	s.codecListener = l
	s.uiURL = "http://" + hostPort(dialIP(o.IP), o.UIPort)
	s.codecURL = "http://" + hostPort(dialIP(o.IP), o.CodecPort)
	return nil
}

// awaitFrontendAndRegister waits until the frontend serves the namespace,
// then registers any configured search attribute the namespace lacks (new
// ones added to searchattr since the database was created).
func (s *Server) awaitFrontendAndRegister(ctx context.Context) error {
	c, err := s.dialInternal(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.opts.Namespace})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal frontend at %s did not serve namespace %s: %w", s.hostPort, s.opts.Namespace, err)
		case <-time.After(50 * time.Millisecond):
		}
	}

	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.opts.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range s.opts.SearchAttributes {
		if got, ok := resp.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		} else if got != typ {
			return fmt.Errorf("search attribute %s is registered as %v, want %v", name, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        s.opts.Namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	s.opts.Logger.Info("registered search attributes", "count", len(missing))
	return nil
}

// dialInternal connects a plain client to the frontend, retrying while the
// frontend comes up.
func (s *Server) dialInternal(ctx context.Context) (client.Client, error) {
	for {
		c, err := client.DialContext(ctx, client.Options{
			HostPort:  s.hostPort,
			Namespace: s.opts.Namespace,
			Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		})
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("temporal frontend at %s did not answer: %w", s.hostPort, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startUI serves the codec endpoint and the Web UI, and waits until the UI
// answers its health check.
func (s *Server) startUI(ctx context.Context) error {
	handler, err := payloadcodec.HTTPHandler(s.key, s.uiOrigins())
	if err != nil {
		return err
	}
	s.codecHTTP = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func(l net.Listener) {
		if err := s.codecHTTP.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("codec endpoint stopped", "error", err)
		}
	}(s.codecListener)
	s.codecListener = nil // owned by codecHTTP now

	s.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                uiHost(s.opts.IP),
		Port:                s.opts.UIPort,
		TemporalGRPCAddress: s.hostPort,
		EnableUI:            true,
		DefaultNamespace:    s.opts.Namespace,
		Codec:               uiconfig.Codec{Endpoint: s.codecURL},
		// Plain http on loopback: the CSRF cookie must not require https.
		CORS:             uiconfig.CORS{CookieInsecure: true},
		HideLogs:         true,
		DisableNewsFetch: true,
	}))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		// Start blocks until Stop. It exits the process itself if it cannot
		// bind, which reservePorts has ruled out as far as it can.
		if err := s.ui.Start(); err != nil {
			s.opts.Logger.Error("web ui stopped", "error", err)
		}
	}()

	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.uiURL+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("web ui at %s did not come up: %w", s.uiURL, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// uiHost brackets IPv6 addresses: the UI server joins host and port with
// a plain colon.
func uiHost(ip string) string {
	if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
		return "[" + ip + "]"
	}
	return ip
}

// uiOrigins are the page origins allowed to call the codec endpoint: the UI
// under the address it is served on, and under "localhost" for loopback.
func (s *Server) uiOrigins() []string {
	port := fmt.Sprint(s.opts.UIPort)
	origins := []string{s.uiURL}
	if ip := net.ParseIP(dialIP(s.opts.IP)); ip != nil && ip.IsLoopback() {
		origins = append(origins, "http://localhost:"+port, "http://127.0.0.1:"+port, "http://[::1]:"+port)
	}
	return origins
}

// Stop shuts down the UI, the codec endpoint and the Temporal server, and
// closes the server log. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.zapLogger != nil && s.logLevel.Level() < zap.ErrorLevel {
			// Stopping makes the services' pollers warn about closed
			// connections; that is expected, so keep it out of the log.
			s.logLevel.SetLevel(zap.ErrorLevel)
		}
		if s.ui != nil {
			s.ui.Stop()
			<-s.uiDone
		}
		if s.codecHTTP != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			errs = append(errs, s.codecHTTP.Shutdown(ctx))
			cancel()
		}
		if s.codecListener != nil {
			_ = s.codecListener.Close()
		}
		if s.temporal != nil {
			errs = append(errs, s.temporal.Stop())
		}
		if s.zapLogger != nil {
			_ = s.zapLogger.Sync()
		}
		if s.logFile != nil {
			errs = append(errs, s.logFile.Close())
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// logWriter is the server log file. Some server goroutines outlive
// temporal.Server.Stop and log a line or two afterwards; once closed, the
// writer drops those instead of failing (zap would report each failure on
// stderr).
type logWriter struct {
	mu sync.Mutex
	f  *os.File
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return len(p), nil
	}
	return w.f.Write(p)
}

func (w *logWriter) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	return w.f.Sync()
}

func (w *logWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// HostPort is the frontend address clients dial, e.g. "127.0.0.1:7233".
func (s *Server) HostPort() string { return s.hostPort }

// Namespace is the namespace the server created.
func (s *Server) Namespace() string { return s.opts.Namespace }

// UIURL is the Web UI's base URL, e.g. "http://127.0.0.1:8233"; "" when headless.
func (s *Server) UIURL() string { return s.uiURL }

// CodecEndpoint is the URL of the codec endpoint the UI uses; "" when headless.
func (s *Server) CodecEndpoint() string { return s.codecURL }

// Store names where Temporal's data is: the SQLite file, or the PostgreSQL
// URL with its password replaced by "xxxxx".
func (s *Server) Store() string { return s.store.where }

// HistoryShards is the store's history shard count.
func (s *Server) HistoryShards() int32 { return s.shards }

// DataDir is the absolute data directory.
func (s *Server) DataDir() string { return s.opts.DataDir }

// CodecKeyFile is the path of the payload codec key in the data dir.
func (s *Server) CodecKeyFile() string { return filepath.Join(s.opts.DataDir, CodecKeyFile) }

// LogFile is the path of the server log.
func (s *Server) LogFile() string { return filepath.Join(s.opts.DataDir, LogFile) }

// DataConverter encrypts payloads with the server's codec key; give it to
// every client and worker that talks to this server.
func (s *Server) DataConverter() converter.DataConverter { return s.dc }
