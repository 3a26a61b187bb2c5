package api

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/hybridauth"
	"github.com/obflow/obflow/internal/obshell"
)

// authReq describes how a test request authenticates.
type authReq struct {
	none    bool   // no X-OCS-Header
	raw     string // a raw header value (garbled)
	pwd     string
	ts      string // "" = now+60s
	uri     string // "" = the request's URI
	casing  hybridauth.Casing
	keys    []byte // body keys; nil = fresh ones
	rawBody []byte // sent as is (not encrypted)
	agent   bool   // send it as X-OCS-Agent-Header (agent password)
	// alsoOB, when agent is set, adds an X-OCS-Header with this password.
	alsoOB *string
}

// newRequest builds a request the way the SDKs do (CONTRACT.md §5.2–§5.3).
func newRequest(t testing.TB, pub *rsa.PublicKey, method, uri string, body any, a authReq) *http.Request {
	t.Helper()
	var plain []byte
	switch b := body.(type) {
	case nil:
	case string:
		plain = []byte(b)
	case []byte:
		plain = b
	default:
		var err error
		if plain, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	keys := a.keys
	if keys == nil && plain != nil {
		var err error
		if keys, err = hybridauth.NewBodyKeys(); err != nil {
			t.Fatal(err)
		}
	}
	var wire []byte
	switch {
	case a.rawBody != nil:
		wire = a.rawBody
	case plain != nil && !a.none:
		var err error
		if wire, err = hybridauth.EncryptBody(plain, keys); err != nil {
			t.Fatal(err)
		}
	default:
		wire = plain
	}
	req := httptest.NewRequest(method, uri, bytes.NewReader(wire))
	req.Header.Set("Content-Type", "application/json")
	switch {
	case a.none:
	case a.raw != "":
		req.Header.Set(hybridauth.HeaderName, a.raw)
	default:
		ts := a.ts
		if ts == "" {
			ts = hybridauth.ExpiryTs(time.Now(), time.Minute)
		}
		u := a.uri
		if u == "" {
			u = uri
		}
		v, err := hybridauth.EncryptHeader(pub, hybridauth.ClientHeader{Auth: a.pwd, Ts: ts, Uri: u, Keys: keys}, a.casing)
		if err != nil {
			t.Fatal(err)
		}
		if !a.agent {
			req.Header.Set(hybridauth.HeaderName, v)
			break
		}
		req.Header.Set(hybridauth.AgentHeaderName, v)
		if a.alsoOB != nil {
			ob, err := hybridauth.EncryptHeader(pub, hybridauth.ClientHeader{Auth: *a.alsoOB, Ts: ts, Uri: u, Keys: keys}, a.casing)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(hybridauth.HeaderName, ob)
		}
	}
	return req
}

// do serves req and decodes the envelope, checking its invariants.
func do(t testing.TB, h http.Handler, req *http.Request) (int, obshell.RawResponse) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env obshell.RawResponse
	if rec.Code == http.StatusNoContent {
		return rec.Code, env
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s %s: status %d, body %q is not an envelope: %v", req.Method, req.RequestURI, rec.Code, rec.Body.String(), err)
	}
	if env.Status != rec.Code {
		t.Fatalf("%s %s: envelope status %d != HTTP %d", req.Method, req.RequestURI, env.Status, rec.Code)
	}
	if env.Successful != (rec.Code < 300) || (!env.Successful && env.Error == nil) {
		t.Fatalf("%s %s: inconsistent envelope %s", req.Method, req.RequestURI, rec.Body.String())
	}
	return rec.Code, env
}
