package api

import (
	"github.com/obflow/obflow/internal/obcluster"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshell"
	"github.com/obflow/obflow/workflows"
)

const fuzzPwd = "fuzz-pw"

// fuzzServer is an agent whose registry snapshot says it is a CLUSTER
// AGENT with a root password, so requests pass auth and reach binding and
// the handlers' checks. Its Temporal client is lazy and points at a port
// nothing listens on, with a short request timeout: a request that gets as
// far as Temporal fails quickly instead of blocking the fuzzer.
func fuzzServer(tb testing.TB, opts ...func(*Config)) *Server {
	tb.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.3.251:1"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	key, err := hybridauth.LoadOrCreateKey(filepath.Join(tb.TempDir(), "agent.key"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{IP: "127.0.3.30", Port: 2886, HomePath: tb.TempDir(), Client: c, Key: key,
		RequestTimeout: 50 * time.Millisecond, Logger: testLogger}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	s.reg.st = &workflows.RegistryState{
		Agents:       []obcluster.AgentRecord{record("127.0.3.30", obcluster.IdentityClusterAgent, "zone1")},
		RootPassword: fuzzPwd, RootPwdSet: true, Initialized: true,
	}
	return s
}

// checkEnvelope serves req and fails on anything but a well-formed
// envelope with one of the statuses obshell uses.
func checkEnvelope(t *testing.T, s *Server, req *http.Request) int {
	t.Helper()
	status, _ := do(t, s.Handler(), req)
	switch status {
	case 200, 204, 400, 401, 404, 500:
	default:
		t.Fatalf("%s %s: status %d", req.Method, req.RequestURI, status)
	}
	return status
}

// FuzzHeaderDecrypt feeds arbitrary X-OCS-Header values through the
// middleware: they must be rejected with an envelope, never accepted.
func FuzzHeaderDecrypt(f *testing.F) {
	s := fuzzServer(f)
	f.Add("")
	f.Add("bm90IGEgaGVhZGVy")
	f.Add("%%%")
	f.Add(string(make([]byte, 200)))
	f.Fuzz(func(t *testing.T, value string) {
		req := newRequest(t, s.cfg.Key.Public(), "GET", "/api/v1/task/dag/20213070339202886123", nil, authReq{none: true})
		req.Header.Set(hybridauth.HeaderName, value)
		if status := checkEnvelope(t, s, req); status == 200 {
			t.Fatalf("header %q accepted", value)
		}
	})
}

// FuzzBodyDecrypt sends arbitrary bodies under a valid header.
func FuzzBodyDecrypt(f *testing.F) {
	s := fuzzServer(f)
	f.Add([]byte("QUJD"), []byte("0123456789abcdef0123456789abcdef"))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAA=="), []byte("short"))
	f.Fuzz(func(t *testing.T, body, keys []byte) {
		a := authReq{pwd: fuzzPwd, keys: keys, rawBody: body}
		if len(keys) == 0 {
			a.keys = nil
		}
		req := newRequest(t, s.cfg.Key.Public(), "POST", "/api/v1/ob/init", nil, a)
		checkEnvelope(t, s, req)
	})
}

// FuzzGenericID parses arbitrary ids directly and through the task routes.
func FuzzGenericID(f *testing.F) {
	s := fuzzServer(f)
	for _, id := range []string{"20213070339202886123", "1", "17", "2123", "abc", "3" + string(make([]byte, 50)), "29999999999999991", "2-1", ""} {
		f.Add(id)
	}
	routes := []string{"/api/v1/task/dag/", "/api/v1/task/node/", "/api/v1/task/sub_task/"}
	f.Fuzz(func(t *testing.T, id string) {
		if g, err := obshell.ParseGenericID(id); err == nil {
			if back := g.String(); back != "" {
				if g2, err := obshell.ParseGenericID(back); err != nil || g2.ID != g.ID {
					t.Fatalf("%q → %q does not round-trip: %v", id, back, err)
				}
			}
		} else if !obshell.HasCode(err, obshell.CodeTaskGenericIDInvalid) {
			t.Fatalf("%q: %v", id, err)
		}
		if id == "" {
			return
		}
		for _, r := range routes {
			req := newRequest(t, s.cfg.Key.Public(), "GET", r+url.PathEscape(id), nil, authReq{pwd: fuzzPwd})
			checkEnvelope(t, s, req)
		}
	})
}

// FuzzRequestBinding sends arbitrary JSON bodies, correctly encrypted, to
// every route that binds one.
func FuzzRequestBinding(f *testing.F) {
	s := fuzzServer(f)
	routes := []struct{ method, uri string }{
		{"POST", "/api/v1/agent/join"}, {"POST", "/api/v1/agent/remove"}, {"POST", "/api/v1/obcluster/config"},
		{"PUT", "/api/v1/observer/config"}, {"POST", "/api/v1/ob/init"}, {"POST", "/api/v1/task/dag/20213070339202886123"},
		{"POST", "/api/v1/task/node/2021307033920288612301"}, {"DELETE", "/api/v1/agent"},
		{"POST", "/api/v1/agent/password"},
	}
	for i, seed := range []string{
		`{"AgentInfo":{"ip":"127.0.3.30","port":2886},"zoneName":"z"}`, `{"ip":"1.2.3.4","port":1}`,
		`{"clusterId":1,"clusterName":"c","rootPwd":"x","rsList":"1.1.1.1:2882:2881"}`,
		`{"observerConfig":{"a":"b"},"scope":{"type":"ZONE","target":["z","z"]}}`, `{"import_script":true}`,
		`{"operator":"RETRY"}`, `{"operator":"pass"}`, `[]`, `null`, `{"clusterId":1e400}`,
		`{"password":"x"}`,
	} {
		f.Add(uint8(i), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req := newRequest(t, s.cfg.Key.Public(), r.method, r.uri, body, authReq{pwd: fuzzPwd})
		checkEnvelope(t, s, req)
	})
}
