package payloadcodec

import (
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// maxRequestBytes bounds a codec request body. The Web UI sends one event's
// payloads at a time; 8 MiB is well above Temporal's 2 MiB payload limit.
const maxRequestBytes = 8 << 20

// HTTPHandler serves the remote codec protocol the Temporal Web UI and CLI
// speak (POST .../encode and .../decode with JSON Payloads), for the codec
// with key.
//
// Browsers call it cross-origin from the UI page, so the handler answers CORS
// preflights and allows credentials for exactly the origins in
// allowedOrigins (e.g. "http://127.0.0.1:8233"). Any other origin gets no
// CORS headers, so a random web page cannot use a local codec endpoint as a
// decryption oracle; non-browser clients send no Origin and are served.
func HTTPHandler(key []byte, allowedOrigins []string) (http.Handler, error) {
	c, err := New(key)
	if err != nil {
		return nil, err
	}
	return &corsHandler{
		next:    converter.NewPayloadCodecHTTPHandler(c),
		origins: slices.Clone(allowedOrigins),
	}, nil
}

type corsHandler struct {
	next    http.Handler
	origins []string
}

func (h *corsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		if !slices.Contains(h.origins, origin) {
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
		hdr.Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		// The UI sends X-Namespace with every request, and Authorization
		// when configured to pass the user's access token.
		hdr.Set("Access-Control-Allow-Headers", strings.Join([]string{"Content-Type", "X-Namespace", "Authorization"}, ", "))
		hdr.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	h.next.ServeHTTP(w, r)
}
