package hybridauth

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecryptRequest(t *testing.T) {
	k := fixedKey(t)
	keys, _ := NewBodyKeys()
	body, _ := EncryptBody([]byte(`{"zoneName":"z"}`), keys)
	hv, _ := EncryptHeader(k.Public(), ClientHeader{Auth: "pw", Ts: "1800000000", Uri: "/api/v1/agent/join", Keys: keys}, CasingPython)

	r := httptest.NewRequest("POST", "/api/v1/agent/join", bytes.NewReader(body))
	r.Header.Set(HeaderName, hv)
	got, err := DecryptRequest(k, r, 0)
	if err != nil || got.Header.Auth != "pw" || got.AgentHeader || string(got.Body) != `{"zoneName":"z"}` {
		t.Fatalf("%+v %v", got, err)
	}

	// The agent header wins; a garbled one fails even if X-OCS-Header is fine.
	r = httptest.NewRequest("POST", "/api/v1/agent/join", bytes.NewReader(body))
	r.Header.Set(HeaderName, hv)
	r.Header.Set(AgentHeaderName, "garbage")
	_, err = DecryptRequest(k, r, 0)
	wantErr(t, err, 401, "Security.Authentication.Header.DecryptFailed", 1, "Decrypt http header failed: ")

	// No header: the body passes as sent (unverified routes such as /api/v1/status).
	r = httptest.NewRequest("POST", "/api/v1/status", strings.NewReader("{}"))
	got, err = DecryptRequest(k, r, 0)
	if err != nil || got.Header != nil || string(got.Body) != "{}" {
		t.Fatalf("%+v %v", got, err)
	}

	// Oversized body.
	r = httptest.NewRequest("POST", "/api/v1/agent/join", strings.NewReader(strings.Repeat("A", 65)))
	_, err = DecryptRequest(k, r, 64)
	wantErr(t, err, 400, "Request.Body.ReadFailed", 0, "Failed to read request body: body larger than 64 bytes")

	// A header with a body that does not match its keys.
	r = httptest.NewRequest("POST", "/api/v1/agent/join", strings.NewReader("AAAA"))
	r.Header.Set(HeaderName, hv)
	_, err = DecryptRequest(k, r, 0)
	wantErr(t, err, 500, "Request.Body.Decrypt.AES.ContentLength.Invalid", 0, "Unauthorized: ")
}
