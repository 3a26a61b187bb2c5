package hybridauth

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/obflow/obflow/internal/obcluster"
	"github.com/obflow/obflow/internal/obshell"
)

// Request header names.
const (
	HeaderName      = "X-OCS-Header"       // root@sys (OceanBase) password auth
	AgentHeaderName = "X-OCS-Agent-Header" // agent password auth; takes precedence when both are sent
)

// Forward types of server-built headers.
const (
	ForwardNone   = 0
	ForwardAuto   = 1
	ForwardManual = 2
)

// Header is the decrypted X-OCS-Header (obshell's HttpHeader). encoding/json matches the SDKs'
// "Auth/Ts/Uri/Keys" (Go) and "auth/ts/uri/keys" (Python) case-insensitively; the extra fields are
// those of agent-built headers.
type Header struct {
	SessionID    string `json:"session_id"`
	Auth         string
	Ts           string
	Token        string
	SSOToken     string `json:"ssotoken"`
	Uri          string
	Keys         []byte // AES key (16 bytes) || IV (16 bytes); base64 in JSON
	Sha256       string
	ForwardType  int
	ForwardAgent obcluster.Agent

	// Digest is the SHA-256 of the RSA ciphertext, the replay-cache key.
	Digest [sha256.Size]byte `json:"-"`
}

// DecryptHeader decrypts an X-OCS-Header (or X-OCS-Agent-Header) value. Every failure — bad
// base64, a bad or partial RSA block, more than MaxHeaderBlocks blocks, bad JSON — is
// 401 Security.Authentication.Header.DecryptFailed with legacy code 1 and message
// "Decrypt http header failed: <cause>", which makes the SDKs re-fetch the public key and retry.
func (k *Key) DecryptHeader(value string) (*Header, error) {
	plain, ct, err := k.decryptBlocks(value, MaxHeaderBlocks)
	if err != nil {
		return nil, obshell.NewHeaderDecryptFailed(err)
	}
	var h Header
	if err := json.Unmarshal(plain, &h); err != nil {
		return nil, obshell.NewHeaderDecryptFailed(err)
	}
	h.Digest = sha256.Sum256(ct)
	return &h, nil
}

// Casing selects the JSON field names of a client header.
type Casing int

const (
	// CasingGo is the Go SDK's {"Auth","Ts","Uri","Keys"}; Keys is null when there is no body.
	CasingGo Casing = iota
	// CasingPython is the Python SDK's {"auth": ..., "ts": ..., "uri": ..., "keys": ...}, with
	// Python's separators; keys is always sent.
	CasingPython
)

func (c Casing) String() string {
	if c == CasingPython {
		return "python"
	}
	return "go"
}

// ClientHeader is what a client puts in X-OCS-Header before encryption.
type ClientHeader struct {
	Auth string // password; "" when the target agent is SINGLE
	Ts   string // expiry, unix seconds as a decimal string
	Uri  string // the request URI, including the query string
	Keys []byte // AES key || IV, or nil when there is no body (Go SDK)
}

// ExpiryTs renders now+lifetime as the SDKs do.
func ExpiryTs(now time.Time, lifetime time.Duration) string {
	return strconv.FormatInt(now.Add(lifetime).Unix(), 10)
}

// Marshal renders the header JSON in the given casing.
func (h ClientHeader) Marshal(c Casing) ([]byte, error) {
	if c == CasingGo {
		return json.Marshal(struct {
			Auth string
			Ts   string
			Uri  string
			Keys []byte
		}{h.Auth, h.Ts, h.Uri, h.Keys})
	}
	q := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	keys := h.Keys
	if keys == nil {
		keys = []byte{}
	}
	return fmt.Appendf(nil, `{"auth": %s, "ts": %s, "uri": %s, "keys": %s}`, q(h.Auth), q(h.Ts), q(h.Uri), q(keys)), nil
}

// EncryptHeader builds the X-OCS-Header value: the header JSON in casing c, RSA-encrypted in
// 53-byte chunks like both SDKs.
func EncryptHeader(pub *rsa.PublicKey, h ClientHeader, c Casing) (string, error) {
	b, err := h.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("marshal header: %w", err)
	}
	return EncryptBlocks(pub, b, SDKChunkSize)
}
