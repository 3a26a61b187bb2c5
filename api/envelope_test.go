package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/obflow/obflow/internal/obshell"
)

// TestWriteEncodedMatchesJSON: the spliced envelope of a cached DTO is byte for byte what
// c.JSON writes for the same envelope (HTML escaping, unicode, nesting, the final newline),
// with the same status and content type.
func TestWriteEncodedMatchesJSON(t *testing.T) {
	payloads := []any{
		map[string]any{"name": "Initialize cluster", "nodes": []any{map[string]any{"logs": []string{"ERROR: <a> & \u2028 b"}}}},
		"plain",
		42,
		[]int{},
	}
	start := time.Date(2026, 11, 26, 23, 0, 0, 123456789, time.UTC)
	for _, p := range payloads {
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		resp := obshell.NewSuccess(rawData{enc}, start, "0123456789abcdef")
		e := echo.New()
		want := httptest.NewRecorder()
		if err := e.NewContext(httptest.NewRequest("GET", "/", nil), want).JSON(resp.Status, resp); err != nil {
			t.Fatal(err)
		}
		got := httptest.NewRecorder()
		if err := writeEncoded(e.NewContext(httptest.NewRequest("GET", "/", nil), got), resp, enc); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Errorf("spliced envelope differs:\n got %s\nwant %s", got.Body, want.Body)
		}
		if n := got.Header().Get("Content-Length"); n != strconv.Itoa(got.Body.Len()) {
			t.Errorf("Content-Length %q for %d bytes", n, got.Body.Len())
		}
		if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Errorf("status/type %d %q, want %d %q", got.Code, got.Header().Get("Content-Type"), want.Code, want.Header().Get("Content-Type"))
		}
	}
}
