// Package api is obflow's obshell-compatible HTTP facade on Echo: obshell's
// routes, envelope and errors (CONTRACT.md §3–§4), v2 hybrid-encryption
// auth (§5), and the task routes answered from Temporal history (package
// dagview). All state lives in Temporal: the cluster registry workflow for
// agents, configs and locks, one workflow per DAG for the rest, so any
// agent answers for any DAG and no agent talks to another.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/workflows"
)

// DefaultVersion is the agent version obflow reports ("<VERSION>-<RELEASE>").
// It is ≥ 4.2.4, so the SDKs send rootPwd in plain text (CONTRACT.md §5.7).
const DefaultVersion = "4.5.0.0-obflow"

// DefaultOBVersion is the observer version reported when none is configured.
const DefaultOBVersion = "4.3.5.0"

// DefaultMaxBodyBytes bounds a request body (encrypted form).
const DefaultMaxBodyBytes = 1 << 20

// Config configures an agent's API.
type Config struct {
	IP        string
	Port      int
	HomePath  string
	Version   string // default DefaultVersion
	OBVersion string // default DefaultOBVersion

	// Client reaches Temporal; its data converter must be the payload
	// codec's, and DataConverter the same converter for history payloads.
	Client        client.Client
	DataConverter converter.DataConverter
	// Key is the agent's RSA key (hybridauth.LoadOrCreateKey in its data dir).
	Key *hybridauth.Key
	// RegistryID is the registry workflow's id (default
	// workflows.DefaultRegistryID).
	RegistryID string
	// PlanOptions tune the DAGs this agent creates (tests shorten timeouts).
	PlanOptions workflows.PlanOptions
	// Verifier applies auth checks (default hybridauth.NewVerifier()).
	Verifier *hybridauth.Verifier
	// RefreshInterval is how often the registry snapshot is refreshed
	// (default 1 s).
	RefreshInterval time.Duration
	// RequestTimeout bounds each request's calls to Temporal (default 30 s).
	RequestTimeout time.Duration
	MaxBodyBytes   int64
	Logger         *slog.Logger
	// Metrics, if set, receives the API's request metrics (metrics.go);
	// nil means no metrics.
	Metrics prometheus.Registerer
}

// Server is one agent's API.
type Server struct {
	cfg      Config
	self     obcluster.Agent
	echo     *echo.Echo
	reg      *registryClient
	views    *viewLoader
	verifier *hybridauth.Verifier
	startAt  int64
	obState  *obStateProbe
	logger   *slog.Logger
	metrics  *requestMetrics
}

// New builds the API. Call Run to serve it.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil || cfg.Key == nil {
		return nil, errors.New("api: a Temporal client and an RSA key are required")
	}
	if net.ParseIP(cfg.IP) == nil || cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("api: invalid agent address %s:%d", cfg.IP, cfg.Port)
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.OBVersion == "" {
		cfg.OBVersion = DefaultOBVersion
	}
	if cfg.RegistryID == "" {
		cfg.RegistryID = workflows.DefaultRegistryID
	}
	if cfg.DataConverter == nil {
		cfg.DataConverter = converter.GetDefaultDataConverter()
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Verifier == nil {
		cfg.Verifier = hybridauth.NewVerifier()
	}
	s := &Server{
		cfg:      cfg,
		self:     obcluster.Agent{IP: cfg.IP, Port: cfg.Port},
		reg:      newRegistryClient(cfg.Client, cfg.RegistryID, cfg.Logger),
		views:    newViewLoader(cfg.Client, cfg.DataConverter),
		verifier: cfg.Verifier,
		startAt:  time.Now().UnixMilli(),
		logger:   cfg.Logger.With("agent", net.JoinHostPort(cfg.IP, fmt.Sprint(cfg.Port))),
	}
	s.obState = newOBStateProbe(s)
	if cfg.Metrics != nil {
		var err error
		if s.metrics, err = newRequestMetrics(cfg.Metrics, s.self.String()); err != nil {
			return nil, err
		}
	}
	s.echo = s.routes()
	return s, nil
}

// Handler is the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.echo }

// Run starts the registry (if needed), keeps its snapshot fresh and serves
// HTTP on ln until ctx ends.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if err := s.reg.ensureStarted(ctx); err != nil {
		return err
	}
	if _, err := s.reg.refresh(ctx); err != nil {
		s.logger.Warn("first registry query failed; serving with an empty snapshot until it answers", "err", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.reg.run(rctx, s.cfg.RefreshInterval)

	srv := &http.Server{Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		return nil
	}
}

// Context keys set by the middleware.
const (
	keyStart   = "obflow.start"
	keyTrace   = "obflow.trace"
	keyHeader  = "obflow.header"
	keyAgentH  = "obflow.agentHeader"
	keyBody    = "obflow.body"
	keyData    = "obflow.data"
	keyStatus  = "obflow.status"
	keyWritten = "obflow.written"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// Errors are rendered by the envelope middleware; this only catches
	// what escapes it.
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		s.writeEnvelope(c, nil, err)
	}
	if s.metrics != nil {
		e.Use(s.metrics.middleware)
	}
	// obshell's order (CONTRACT.md §3.1): Recovery → PostHandlers (envelope) →
	// HeaderDecrypt → BodyDecrypt → PaddingBody → PreHandlers (trace id).
	e.Use(s.recoverMiddleware, s.envelopeMiddleware, s.headerDecrypt, s.bodyDecrypt, padding, traceID)
	e.RouteNotFound("/*", notFound)

	v1 := "/api/v1"
	e.GET(v1+"/info", s.info)
	e.GET(v1+"/status", s.status)
	e.POST(v1+"/status", s.status)
	e.GET(v1+"/secret", s.secret)
	e.GET(v1+"/time", s.timeNow)

	e.POST(v1+"/agent/join", s.auth(s.join))
	e.POST(v1+"/agent", s.auth(s.join))
	e.POST(v1+"/agent/remove", s.auth(s.remove))
	e.DELETE(v1+"/agent", s.auth(s.remove))
	e.POST(v1+"/agent/password", s.authSetAgentPassword(s.agentPassword))
	e.POST(v1+"/obcluster/config", s.auth(s.obclusterConfig))
	e.PUT(v1+"/obcluster/config", s.auth(s.obclusterConfig))
	e.POST(v1+"/observer/config", s.auth(s.observerConfig))
	e.PUT(v1+"/observer/config", s.auth(s.observerConfig))
	e.POST(v1+"/ob/init", s.auth(s.obInit))

	e.GET(v1+"/task/dag/:id", s.auth(s.getDag))
	e.POST(v1+"/task/dag/:id", s.auth(s.operateDag))
	e.GET(v1+"/task/node/:id", s.auth(s.getNode))
	e.POST(v1+"/task/node/:id", s.auth(s.operateNode))
	e.GET(v1+"/task/sub_task/:id", s.auth(s.getSubTask))
	e.GET(v1+"/task/sub_task/:id/logs", s.auth(s.getSubTaskLogs))
	e.GET(v1+"/task/dag/maintain/agent", s.auth(s.lastMaintenanceAgent))
	e.GET(v1+"/task/dag/maintain/agents", s.auth(s.lastMaintenanceAgents))
	e.GET(v1+"/task/dag/maintain/ob", s.auth(s.lastMaintenanceOB))
	e.GET(v1+"/task/dag/unfinish", s.auth(s.unfinished))
	e.GET(v1+"/task/dag/agent/unfinish", s.auth(s.agentUnfinished))
	e.GET(v1+"/task/dag/ob/unfinish", s.auth(s.clusterUnfinished))
	e.GET(v1+"/task/dags/agent", s.auth(s.agentDags))
	e.GET(v1+"/task/dags/ob", s.auth(s.clusterDags))
	return e
}

// notFound is obshell's answer to unknown routes and, as gin's, to wrong
// methods: 404 Common.NotFound "Element not found: 404 not found".
func notFound(echo.Context) error { return obshell.NewNotFound("404 not found") }

// ok sets the data of a successful reply.
func ok(c echo.Context, data any) error {
	c.Set(keyData, data)
	return nil
}

// noContent is obshell's 204 "nothing to do".
func noContent(c echo.Context) error {
	c.Set(keyStatus, http.StatusNoContent)
	return nil
}

func (s *Server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.logger.Error("panic in handler", "panic", r, "uri", c.Request().RequestURI)
				if c.Response().Committed {
					return
				}
				start, _ := c.Get(keyStart).(time.Time)
				trace, _ := c.Get(keyTrace).(string)
				resp := obshell.PanicResponse(start, trace)
				_ = c.JSON(resp.Status, resp)
				err = nil
			}
		}()
		return next(c)
	}
}

func (s *Server) envelopeMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(keyStart, time.Now())
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		err := next(c)
		if c.Response().Committed {
			return nil
		}
		s.writeEnvelope(c, c.Get(keyData), err)
		return nil
	}
}

// writeEnvelope renders obshell's response envelope (CONTRACT.md §4.1).
func (s *Server) writeEnvelope(c echo.Context, data any, err error) {
	start, _ := c.Get(keyStart).(time.Time)
	if start.IsZero() {
		start = time.Now()
	}
	trace, _ := c.Get(keyTrace).(string)
	var resp obshell.Response
	switch {
	case err != nil:
		var he *echo.HTTPError
		if errors.As(err, &he) {
			if he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed {
				err = obshell.NewNotFound("404 not found")
			} else {
				err = obshell.NewBadRequest(fmt.Sprint(he.Message))
			}
		}
		var oe *obshell.Error
		if !errors.As(err, &oe) {
			s.logger.Warn("unexpected error", "uri", c.Request().RequestURI, "err", err)
		}
		resp = obshell.NewErrorResponse(err, start, trace)
	default:
		resp = obshell.NewSuccess(data, start, trace)
		if st, ok := c.Get(keyStatus).(int); ok {
			resp.Status = st
		}
	}
	if resp.Status == http.StatusNoContent {
		// A 204 carries no body on the wire; obshell's clients only read
		// the status.
		c.Response().WriteHeader(http.StatusNoContent)
		return
	}
	if raw, ok := resp.Data.(rawData); ok && err == nil && len(raw.b) > 0 && !c.Echo().Debug && !c.QueryParams().Has("pretty") {
		_ = writeEncoded(c, resp, raw.b)
		return
	}
	_ = c.JSON(resp.Status, resp)
}

// writeEncoded writes a successful envelope whose data is already encoded
// (a finished DAG's cached DTO). encoding/json re-validates and compacts a
// Marshaler's output on every call, a fifth of a cached GET's CPU; these
// bytes came from json.Marshal, so they are spliced in as they are. The
// result is byte for byte what c.JSON writes: data is the last field of a
// successful envelope, and Encode ends with a newline.
func writeEncoded(c echo.Context, resp obshell.Response, data []byte) error {
	resp.Data = nil
	head, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode envelope: %w", err)
	}
	bp := encodedBufs.Get().(*[]byte)
	defer putEncodedBuf(bp)
	buf := append((*bp)[:0], head[:len(head)-1]...) // without the closing brace
	buf = append(buf, `,"data":`...)
	buf = append(buf, data...)
	buf = append(buf, "}\n"...)
	*bp = buf
	// With its length known, net/http sends the DTO (tens of KB) in one
	// piece instead of chunk by chunk.
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(buf)))
	return c.Blob(resp.Status, echo.MIMEApplicationJSON, buf)
}

// encodedBufs recycles writeEncoded's buffers: a DTO is tens of KB, and a
// fresh one per request was most of a cached GET's garbage. Blob has
// written the buffer to the connection when it returns.
var encodedBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuf keeps an exceptionally large DTO's buffer from being held.
const maxPooledBuf = 1 << 20

func putEncodedBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuf {
		encodedBufs.Put(bp)
	}
}

// headerDecrypt decrypts X-OCS-Agent-Header (preferred) or X-OCS-Header
// when present, on every route (CONTRACT.md §5.2). Failure: 401 code 1.
func (s *Server) headerDecrypt(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		agentValue := c.Request().Header.Get(hybridauth.AgentHeaderName)
		value := c.Request().Header.Get(hybridauth.HeaderName)
		if agentValue != "" {
			value = agentValue
		}
		if value == "" {
			return next(c)
		}
		h, err := s.cfg.Key.DecryptHeader(value)
		if err != nil {
			return err
		}
		c.Set(keyHeader, h)
		c.Set(keyAgentH, agentValue != "")
		return next(c)
	}
}

// bodyDecrypt reads the body (bounded) and, when a header was decrypted,
// decrypts it with the header's keys.
func (s *Server) bodyDecrypt(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var body []byte
		if r := c.Request().Body; r != nil {
			b, err := io.ReadAll(io.LimitReader(r, s.cfg.MaxBodyBytes+1))
			if err != nil {
				return obshell.NewBodyReadFailed(err)
			}
			if int64(len(b)) > s.cfg.MaxBodyBytes {
				return obshell.NewBodyReadFailed(fmt.Errorf("request body larger than %d bytes", s.cfg.MaxBodyBytes))
			}
			body = b
		}
		if h, ok := c.Get(keyHeader).(*hybridauth.Header); ok && len(body) > 0 {
			plain, err := hybridauth.DecryptBody(body, h.Keys)
			if err != nil {
				return err
			}
			body = plain
		}
		c.Set(keyBody, body)
		return next(c)
	}
}

// padding turns an empty body into {} (obshell's PaddingBody).
func padding(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if b, _ := c.Get(keyBody).([]byte); len(b) == 0 {
			c.Set(keyBody, []byte("{}"))
		}
		return next(c)
	}
}

// traceID assigns the envelope's traceId: the caller's X-OBSHELL-Trace-ID
// or 16 random hex characters.
func traceID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(obshell.TraceIDHeader)
		if id == "" {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(keyTrace, id)
		return next(c)
	}
}

// bind decodes the (decrypted) body like obshell's gin binding.
func bind(c echo.Context, v any) error {
	b, _ := c.Get(keyBody).([]byte)
	return obshell.BindJSON(b, v)
}

// auth wraps a verified route (CONTRACT.md §5.4–§5.5).
func (s *Server) auth(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.verify(c); err != nil {
			return err
		}
		return h(c)
	}
}

func (s *Server) verify(c echo.Context) error {
	return s.verifyWith(c, s.verifyOB)
}

// authSetAgentPassword wraps POST /api/v1/agent/password, whose rules
// differ (obshell's VerifyForSetAgentPassword).
func (s *Server) authSetAgentPassword(h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.verifyWith(c, s.verifySetAgentPassword); err != nil {
			return err
		}
		return h(c)
	}
}

// credentials is what one verification rule reads: the header, which
// header it came in, and the registry snapshot.
type credentials struct {
	h       *hybridauth.Header
	agentH  bool // X-OCS-Agent-Header: agent password; else OceanBase password
	obValue string
	st      *workflows.RegistryState
}

// verifyWith runs obshell's Verify: header present, URI, then rule, then
// (obflow) replay. A rule that fails is tried once more against a fresh
// registry state when the credentials there differ: "Update cluster
// config" or POST /agent/password may just have changed them.
func (s *Server) verifyWith(c echo.Context, rule func(credentials) error) error {
	h, ok := c.Get(keyHeader).(*hybridauth.Header)
	if !ok {
		return obshell.NewHeaderNotFound()
	}
	if err := hybridauth.CheckURI(h, c.Request().RequestURI); err != nil {
		return err
	}
	cr := credentials{h: h, st: s.reg.snapshot(), obValue: c.Request().Header.Get(hybridauth.HeaderName)}
	cr.agentH, _ = c.Get(keyAgentH).(bool)
	if err := rule(cr); err != nil {
		var oe *obshell.Error
		if !errors.As(err, &oe) || oe.Status() != http.StatusUnauthorized {
			return err
		}
		fresh, rerr := s.reg.refresh(c.Request().Context())
		if rerr != nil || !s.credentialsChanged(cr.st, fresh) {
			return err
		}
		cr.st = fresh
		if err := rule(cr); err != nil {
			return err
		}
	}
	return s.verifier.CheckReplay(h)
}

// credentialsChanged tells whether anything verifyOB reads differs.
func (s *Server) credentialsChanged(a, b *workflows.RegistryState) bool {
	self := s.self.String()
	master := func(st *workflows.RegistryState) string {
		m, _ := st.Master()
		return m.Agent.String()
	}
	return a.RootPassword != b.RootPassword || a.RootPwdSet != b.RootPwdSet ||
		a.Identity(self) != b.Identity(self) || master(a) != master(b) ||
		a.AgentPasswords[self] != b.AgentPasswords[self] || a.AgentPasswords[master(a)] != b.AgentPasswords[master(b)]
}

func unauthorized(err error) error { return obshell.WrapRetain(obshell.CodeCommonUnauthorized, err) }

// verifyOB is obshell's VerifyObRouters (CONTRACT.md §5.5) on this agent's
// identity. A FOLLOWER has no agent token to check in obflow and obshell
// forwards the request to the master, which authenticates it: so a
// FOLLOWER applies the master's rules with the master's agent password.
func (s *Server) verifyOB(cr credentials) error {
	self := s.self.String()
	agentPwd := cr.st.AgentPasswords[self]
	switch cr.st.Identity(self) {
	case obcluster.IdentitySingle:
		if agentPwd == "" {
			return nil // no agent password: anything passes
		}
		if !cr.agentH {
			return unauthorized(obshell.NewWithAgentPassword("agent password has been set"))
		}
		err := s.verifier.CheckAgentPassword(cr.h, agentPwd)
		if err != nil && len(cr.h.Auth) >= 172 {
			// The SDKs may send it RSA-encrypted with this agent's key.
			if plain, ok := s.cfg.Key.TryDecryptPassword(cr.h.Auth); ok && s.verifier.CheckAgentAuth(plain, cr.h.Ts, agentPwd) == nil {
				return nil
			}
		}
		return err
	case obcluster.IdentityFollower:
		if cr.agentH {
			// Auto-forwarding sends only X-OCS-Header on (CONTRACT.md §5.5).
			if cr.obValue == "" {
				return obshell.NewForwardHeaderNotExist()
			}
			h, err := s.cfg.Key.DecryptHeader(cr.obValue)
			if err != nil {
				return err
			}
			cr.h, cr.agentH = h, false
		}
		m, _ := cr.st.Master()
		agentPwd = cr.st.AgentPasswords[m.Agent.String()]
	}
	// MASTER, CLUSTER AGENT and the FOLLOWER's forwarded request.
	if !cr.agentH {
		if !cr.st.RootPwdSet && agentPwd != "" {
			return unauthorized(obshell.NewWithAgentPassword("oceanbase password is not initialized"))
		}
		return s.verifier.CheckPassword(cr.h, cr.st.RootPassword)
	}
	switch {
	case cr.st.RootPwdSet && agentPwd == "":
		return unauthorized(obshell.NewWithOceanBasePassword("agent password is not initialized"))
	case agentPwd == "":
		return nil
	}
	return s.verifier.CheckAgentPassword(cr.h, agentPwd)
}

// verifySetAgentPassword is obshell's VerifyForSetAgentPassword: once set,
// only the agent password may change it; a CLUSTER AGENT without one needs
// the OceanBase password; a SINGLE agent accepts anything. For a MASTER or
// FOLLOWER without an agent password obshell fails with a nil error (a
// panic, 500); obflow applies the usual rules (verifyOB) instead.
func (s *Server) verifySetAgentPassword(cr credentials) error {
	self := s.self.String()
	if pwd := cr.st.AgentPasswords[self]; pwd != "" {
		if !cr.agentH {
			return unauthorized(obshell.NewWithAgentPassword("agent password has been set"))
		}
		return s.verifier.CheckAgentPassword(cr.h, pwd)
	}
	switch cr.st.Identity(self) {
	case obcluster.IdentityClusterAgent:
		if cr.agentH {
			return unauthorized(obshell.NewWithOceanBasePassword("oceanbase password has been set"))
		}
		return s.verifier.CheckPassword(cr.h, cr.st.RootPassword)
	case obcluster.IdentitySingle:
		return nil
	}
	return s.verifyOB(cr)
}

// selfRecord is this agent as a registry record.
func (s *Server) selfRecord(zone string) obcluster.AgentRecord {
	return obcluster.AgentRecord{
		Agent: s.self, Zone: zone,
		Version: s.cfg.Version, OBVersion: s.cfg.OBVersion,
		HomePath: s.cfg.HomePath, PublicKey: s.cfg.Key.PublicKeyBase64(),
		OS: runtime.GOOS, Architecture: obcluster.Architecture(runtime.GOARCH),
	}
}

func pid() int { return os.Getpid() }
