// Package obshellclient talks to obshell (and obflow) agents over HTTP the way the official Go and
// Python SDKs do: unauthenticated GET /api/v1/info and /api/v1/secret, v2 hybrid-encryption auth
// on every other request (Go or Python header casing), the SDKs' password and recovery rules, and
// typed methods returning the obshell wire types.
package obshellclient

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// DefaultLifetime is how long a header is valid (the SDKs' default, 60 s).
const DefaultLifetime = 60 * time.Second

// maxResponseBytes bounds what the client reads from an agent.
const maxResponseBytes = 64 << 20

// Client is one agent's client. It is safe for concurrent use.
type Client struct {
	host     string
	port     int
	base     string // http://host:port
	http     *http.Client
	casing   hybridauth.Casing
	lifetime time.Duration
	log      *slog.Logger

	mu        sync.Mutex
	auth      *authState
	candidate *authState
}

// authState is one credential and what the client learned about the agent for it, like the SDKs'
// PasswordAuth + its method (identity checked, public key cached).
type authState struct {
	password        string // as configured
	agent           bool   // an agent password, sent in X-OCS-Agent-Header
	effective       string // "" when the agent was SINGLE at the identity check
	identityChecked bool
	pub             *rsa.PublicKey
}

func (a *authState) reset() { a.identityChecked, a.pub = false, nil }

// Option configures a Client.
type Option func(*Client)

// WithPassword sets the root@sys password (default ""). The client still sends "" while the agent
// reports identity SINGLE, as the SDKs do.
func WithPassword(p string) Option { return func(c *Client) { c.auth = &authState{password: p} } }

// WithAgentPassword authenticates with an agent password in X-OCS-Agent-Header instead of the
// root@sys password (CONTRACT.md §5.5–§5.6). It is sent as is, whatever the agent's identity: an agent that
// has one requires it even while SINGLE.
func WithAgentPassword(p string) Option {
	return func(c *Client) { c.auth = &authState{password: p, agent: true} }
}

// WithCasing selects the Go SDK's (default) or the Python SDK's request shapes: header field
// names, body field names of join, and the show_details query of DAG polling.
func WithCasing(casing hybridauth.Casing) Option { return func(c *Client) { c.casing = casing } }

// WithHTTPClient replaces http.DefaultClient.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithLifetime sets the header lifetime (default 60 s).
func WithLifetime(d time.Duration) Option { return func(c *Client) { c.lifetime = d } }

// WithLogger sets the logger for recovery decisions (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// New returns a client for the agent at addr ("ip:port", "[ipv6]:port", or "ip" for port 2886).
func New(addr string, opts ...Option) (*Client, error) {
	agent, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	c := &Client{
		host:     agent.IP,
		port:     agent.Port,
		base:     "http://" + agent.String(),
		http:     http.DefaultClient,
		lifetime: DefaultLifetime,
		log:      slog.Default(),
		auth:     &authState{},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func parseAddr(addr string) (obcluster.Agent, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		// No port: the whole string is the host.
		host, portStr = strings.Trim(addr, "[]"), strconv.Itoa(obcluster.DefaultAgentPort)
	}
	if net.ParseIP(host) == nil {
		return obcluster.Agent{}, fmt.Errorf("agent address %q: %q is not an IP address", addr, host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return obcluster.Agent{}, fmt.Errorf("agent address %q: bad port %q", addr, portStr)
	}
	return obcluster.Agent{IP: host, Port: port}, nil
}

// Agent is the address this client talks to.
func (c *Client) Agent() obcluster.Agent { return obcluster.Agent{IP: c.host, Port: c.port} }

// Casing is the request shape in use.
func (c *Client) Casing() hybridauth.Casing { return c.casing }

// Password is the password of the credential in use (after a candidate was adopted, the
// candidate's).
func (c *Client) Password() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.auth.password
}

// SetPassword replaces the credential and drops any candidate.
func (c *Client) SetPassword(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth, c.candidate = &authState{password: p}, nil
}

// SetCandidatePassword prepares a second credential, tried when the agent answers 10008 (the SDKs'
// candidate auth for the moment "Update cluster config" changes the root password).
func (c *Client) SetCandidatePassword(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.candidate = &authState{password: p}
}

// APIError is an error envelope from the agent.
type APIError struct {
	HTTPStatus int
	TraceID    string
	obshell.APIError
}

func (e *APIError) Error() string {
	return fmt.Sprintf("obshell api error (status %d): [%s]: %s", e.HTTPStatus, e.ErrCode, e.Message)
}

// request describes one API call.
type request struct {
	method string
	path   string
	query  url.Values
	body   any // nil: no body
	auth   bool
}

func (r request) uri() string {
	if len(r.query) == 0 {
		return r.path
	}
	return r.path + "?" + r.query.Encode()
}

// call runs a request with the SDKs' recovery rules and decodes data into out (if not nil). It
// reports whether the reply was 204.
func (c *Client) call(ctx context.Context, r request, out any) (noContent bool, err error) {
	if !r.auth {
		return c.send(ctx, r, nil, out)
	}
	c.mu.Lock()
	cur := c.auth
	c.mu.Unlock()
	noContent, err = c.send(ctx, r, cur, out)
	var ae *APIError
	if err == nil || !errors.As(err, &ae) {
		return noContent, err
	}
	switch ae.Code {
	case obshell.OldCodeDecryptFailed:
		// The agent's key changed: forget the cached public key (and identity) and retry once.
		c.log.Debug("obshell: header decrypt failed, refetching the public key", "agent", c.Agent().String())
		c.resetAuth(cur)
	case obshell.OldCodeUnauthorized:
		if nc, ok := c.tryCandidate(ctx, r, out); ok {
			return nc, nil
		}
		c.mu.Lock()
		cur = c.auth
		c.mu.Unlock()
		c.resetAuth(cur)
	default:
		return noContent, err
	}
	c.mu.Lock()
	cur = c.auth
	c.mu.Unlock()
	return c.send(ctx, r, cur, out)
}

// tryCandidate follows sdk-go Client.tryCandidateAuth: on agents ≥ 4.2.4 first re-check the
// identity and retry with the current password; then adopt the candidate and retry with it.
func (c *Client) tryCandidate(ctx context.Context, r request, out any) (bool, bool) {
	c.mu.Lock()
	cand, cur := c.candidate, c.auth
	c.mu.Unlock()
	if cand == nil {
		return false, false
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, false
	}
	if versionAtLeast(info.Version, 4, 2, 4) {
		c.resetAuth(cur)
		if nc, err := c.send(ctx, r, cur, out); err == nil {
			return nc, true
		}
	}
	c.mu.Lock()
	if c.candidate == cand {
		c.auth, c.candidate = cand, nil
	}
	c.mu.Unlock()
	c.log.Debug("obshell: adopted the candidate password", "agent", c.Agent().String())
	nc, err := c.send(ctx, r, cand, out)
	return nc, err == nil
}

func (c *Client) resetAuth(a *authState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a.reset()
}

// prepare checks the identity (SINGLE → empty password) and fetches the public key, once per
// credential, like the SDKs' PasswordAuthMethod.
func (c *Client) prepare(ctx context.Context, a *authState) (pwd string, pub *rsa.PublicKey, err error) {
	c.mu.Lock()
	checked, pub, pwd := a.identityChecked, a.pub, a.effective
	c.mu.Unlock()
	if !checked {
		info, err := c.Info(ctx)
		if err != nil {
			return "", nil, fmt.Errorf("check identity: %w", err)
		}
		pwd = a.password
		if info.Identity == obcluster.IdentitySingle && !a.agent {
			pwd = ""
		}
		c.mu.Lock()
		a.effective, a.identityChecked = pwd, true
		c.mu.Unlock()
	}
	if pub == nil {
		s, err := c.Secret(ctx)
		if err != nil {
			return "", nil, fmt.Errorf("get public key: %w", err)
		}
		pub, err = hybridauth.ParsePublicKey(s.PublicKey)
		if err != nil {
			return "", nil, err
		}
		c.mu.Lock()
		a.pub = pub
		c.mu.Unlock()
	}
	return pwd, pub, nil
}

// send performs one HTTP exchange; a nil auth sends the body as plain JSON without header.
func (c *Client) send(ctx context.Context, r request, a *authState, out any) (bool, error) {
	var plain []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return false, fmt.Errorf("marshal %s body: %w", r.path, err)
		}
		plain = b
	}
	uri := r.uri()
	body := plain
	var header string
	if a != nil {
		pwd, pub, err := c.prepare(ctx, a)
		if err != nil {
			return false, err
		}
		var keys []byte
		if plain != nil || c.casing == hybridauth.CasingPython {
			if keys, err = hybridauth.NewBodyKeys(); err != nil {
				return false, err
			}
		}
		if plain != nil {
			if body, err = hybridauth.EncryptBody(plain, keys); err != nil {
				return false, err
			}
		}
		header, err = hybridauth.EncryptHeader(pub, hybridauth.ClientHeader{
			Auth: pwd, Ts: hybridauth.ExpiryTs(time.Now(), c.lifetime), Uri: uri, Keys: keys,
		}, c.casing)
		if err != nil {
			return false, err
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+uri, rd)
	if err != nil {
		return false, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if header != "" {
		name := hybridauth.HeaderName
		if a.agent {
			name = hybridauth.AgentHeaderName
		}
		req.Header.Set(name, header)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", r.method, uri, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return false, fmt.Errorf("%s %s: read response: %w", r.method, uri, err)
	}
	if resp.StatusCode == http.StatusNoContent {
		// HTTP forbids a body with 204, so obshell's "successful" envelope never arrives.
		return true, nil
	}
	var env obshell.RawResponse
	if err := json.Unmarshal(raw, &env); err != nil {
		return false, fmt.Errorf("%s %s: status %d, not an obshell envelope: %w (%.200q)", r.method, uri, resp.StatusCode, err, raw)
	}
	if resp.StatusCode >= 300 || !env.Successful || env.Error != nil {
		ae := &APIError{HTTPStatus: resp.StatusCode, TraceID: env.TraceID}
		if env.Error != nil {
			ae.APIError = *env.Error
		}
		return false, ae
	}
	if out != nil && len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return false, fmt.Errorf("%s %s: decode data: %w", r.method, uri, err)
		}
	}
	return false, nil
}

// versionAtLeast compares the numeric prefix of "a.b.c.d-release" with the given parts.
// Unparsable versions compare as lower.
func versionAtLeast(v string, want ...int) bool {
	v, _, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	for i, w := range want {
		if i >= len(parts) {
			return false
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}
