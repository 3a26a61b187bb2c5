package hybridauth

import (
	"fmt"
	"io"
	"net/http"

	"github.com/obflow/obflow/internal/obshell"
)

// DefaultMaxBodyBytes bounds a request body read by DecryptRequest (obshell has no bound; the
// largest SDK body, observer/config, is a few KB).
const DefaultMaxBodyBytes = 1 << 20

// Request is what DecryptRequest extracts from an HTTP request.
type Request struct {
	// Header is the decrypted header, or nil when the request carried none.
	Header *Header
	// AgentHeader reports that it came from X-OCS-Agent-Header (agent password) rather than
	// X-OCS-Header (OceanBase password).
	AgentHeader bool
	// Body is the plaintext body (decrypted when a header was present, else as sent).
	Body []byte
}

// DecryptRequest does the work of obshell's HeaderDecrypt and BodyDecrypt middlewares on any
// route: if X-OCS-Agent-Header or X-OCS-Header is present (the agent header wins) it must
// decrypt (401 code 1 otherwise); the body is read (at most maxBody bytes, else 400
// Request.Body.ReadFailed; ≤ 0 means DefaultMaxBodyBytes) and, when a header was decrypted,
// AES-decrypted with its Keys (errors as DecryptBody). Authentication itself (CheckURI,
// Verifier) is left to the caller, because which routes need it and against which password
// depends on the agent's identity.
func DecryptRequest(k *Key, r *http.Request, maxBody int64) (*Request, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	out := &Request{}
	value := r.Header.Get(AgentHeaderName)
	if value != "" {
		out.AgentHeader = true
	} else {
		value = r.Header.Get(HeaderName)
	}
	if value != "" {
		h, err := k.DecryptHeader(value)
		if err != nil {
			return nil, err
		}
		out.Header = h
	}
	if r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return nil, obshell.NewBodyReadFailed(err)
		}
		if int64(len(body)) > maxBody {
			return nil, obshell.NewBodyReadFailed(fmt.Errorf("body larger than %d bytes", maxBody))
		}
		out.Body = body
	}
	if out.Header != nil {
		plain, err := DecryptBody(out.Body, out.Header.Keys)
		if err != nil {
			return nil, err
		}
		out.Body = plain
	}
	return out, nil
}
