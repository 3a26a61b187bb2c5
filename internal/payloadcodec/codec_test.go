package payloadcodec

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

func testKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCodec(t *testing.T, key []byte) *Codec {
	t.Helper()
	c, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const secret = "root-password-Sup3rSecret"

func TestRoundTripThroughDataConverter(t *testing.T) {
	dc, err := DataConverter(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]string{"password": secret, "zone": "zone1"}
	p, err := dc.ToPayload(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Metadata[converter.MetadataEncoding]); got != MetadataEncoding {
		t.Fatalf("encoding = %q, want %q", got, MetadataEncoding)
	}
	var out map[string]string
	if err := dc.FromPayload(p, &out); err != nil {
		t.Fatal(err)
	}
	if out["password"] != secret || out["zone"] != "zone1" {
		t.Fatalf("round trip = %v", out)
	}
}

func TestPlaintextAbsentAndNonceRandom(t *testing.T) {
	c := mustCodec(t, testKey(t))
	plain, err := converter.GetDefaultDataConverter().ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range [][]*commonpb.Payload{a, b} {
		wire, err := protojson.Marshal(enc[0])
		if err != nil {
			t.Fatal(err)
		}
		raw := append(enc[0].Data, wire...)
		for _, needle := range []string{secret, "json/plain"} {
			if bytes.Contains(raw, []byte(needle)) {
				t.Fatalf("encoded payload contains %q", needle)
			}
		}
	}
	if bytes.Equal(a[0].Data, b[0].Data) {
		t.Fatal("two encodings of the same payload are identical: nonce not random")
	}
	// The input must not be mutated.
	if string(plain.Metadata[converter.MetadataEncoding]) != "json/plain" {
		t.Fatal("Encode mutated its input")
	}
}

func TestTamperDetected(t *testing.T) {
	c := mustCodec(t, testKey(t))
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc[0].Data {
		bad := &commonpb.Payload{Metadata: enc[0].Metadata, Data: bytes.Clone(enc[0].Data)}
		bad.Data[i] ^= 0x01
		if _, err := c.Decode([]*commonpb.Payload{bad}); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipping byte %d: err = %v, want ErrDecrypt", i, err)
		}
	}
	short := &commonpb.Payload{Metadata: enc[0].Metadata, Data: enc[0].Data[:10]}
	if _, err := c.Decode([]*commonpb.Payload{short}); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("truncated: err = %v, want ErrDecrypt", err)
	}
}

func TestWrongKey(t *testing.T) {
	enc, err := mustCodec(t, testKey(t)).Encode([]*commonpb.Payload{{Data: []byte("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mustCodec(t, testKey(t)).Decode(enc); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("err = %v, want ErrDecrypt", err)
	}
}

func TestDecodePassesThroughUnencrypted(t *testing.T) {
	c := mustCodec(t, testKey(t))
	plain, err := converter.GetDefaultDataConverter().ToPayload("hello")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Decode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != plain {
		t.Fatal("unencrypted payload was not passed through")
	}
}

func TestNewRejectsBadKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New(%d bytes) succeeded", n)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "codec.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second LoadOrCreateKey returned a different key")
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("key dir holds %d entries, want only the key", len(entries))
	}
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "codec.key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent creators got different keys")
		}
	}
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadKey(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
	for name, content := range map[string]string{"nothex": "zz", "short": "abcd"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKey(p); err == nil {
			t.Errorf("%s: LoadKey succeeded", name)
		}
		// A corrupt key must not be replaced silently.
		if _, err := LoadOrCreateKey(p); err == nil {
			t.Errorf("%s: LoadOrCreateKey succeeded", name)
		}
	}
}

func TestHTTPHandlerDecodesForAllowedOrigin(t *testing.T) {
	key := testKey(t)
	h, err := HTTPHandler(key, []string{"http://127.0.0.1:8233"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	dc, _ := DataConverter(key)
	p, err := dc.ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{p}})
	if err != nil {
		t.Fatal(err)
	}

	// Preflight, as the browser sends it before the UI's POST.
	pre, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	pre.Header.Set("Origin", "http://127.0.0.1:8233")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-namespace") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(body))
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out commonpb.Payloads
	raw := new(bytes.Buffer)
	raw.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decode: %d %s", resp.StatusCode, raw)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" {
		t.Fatalf("decode response lacks CORS header: %v", resp.Header)
	}
	if err := protojson.Unmarshal(raw.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &got); err != nil || got != secret {
		t.Fatalf("decoded %q, %v", got, err)
	}
}

func TestHTTPHandlerRejectsOtherOrigin(t *testing.T) {
	h, err := HTTPHandler(testKey(t), []string{"http://127.0.0.1:8233"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/decode", strings.NewReader(`{"payloads":[]}`))
	req.Header.Set("Origin", "https://evil.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin: %d %v", rec.Code, rec.Header())
	}
}
