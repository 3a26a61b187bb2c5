package hybridauth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obshell"
)

var (
	testKeyOnce sync.Once
	testKey     *Key
)

// fixedKey is testdata/testkey.pem, so that fuzz seeds encrypted for it stay valid.
func fixedKey(tb testing.TB) *Key {
	tb.Helper()
	testKeyOnce.Do(func() {
		data, err := os.ReadFile("testdata/testkey.pem")
		if err != nil {
			panic(err)
		}
		testKey, err = parseKeyPEM(data)
		if err != nil {
			panic(err)
		}
	})
	return testKey
}

func wantErr(t *testing.T, err error, status int, errCode string, oldCode int, msgPrefix string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got nil", errCode)
	}
	s, api := obshell.ToAPIError(err)
	if s != status || api.ErrCode != errCode || api.Code != oldCode || !strings.HasPrefix(api.Message, msgPrefix) {
		t.Fatalf("got %d %+v, want %d %s %d %q…", s, api, status, errCode, oldCode, msgPrefix)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "agent.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", di.Mode())
	}
	if k1.Public().N.BitLen() != KeyBits || k1.Size() != 128 {
		t.Fatalf("key size %d", k1.Public().N.BitLen())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || k2.PublicKeyBase64() != k1.PublicKeyBase64() {
		t.Fatal("reload must give the same key")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("permissions not narrowed: %v", fi.Mode())
	}
	// The public key is base64 DER PKCS#1, which the SDKs parse with ParsePKCS1PublicKey.
	pub, err := ParsePublicKey(k1.PublicKeyBase64())
	if err != nil || pub.N.Cmp(k1.Public().N) != 0 {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if _, err := ParsePublicKey("!!"); err == nil {
		t.Fatal("bad base64 must fail")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("a corrupt key file must be an error, not silently replaced")
	}
	// Concurrent creators agree on one key.
	path2 := filepath.Join(dir, "race.key")
	keys := make([]string, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKey(path2)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k.PublicKeyBase64()
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatal("concurrent LoadOrCreateKey produced different keys")
		}
	}
}

func TestHeaderRoundTripBothCasings(t *testing.T) {
	k := fixedKey(t)
	keys, err := NewBodyKeys()
	if err != nil {
		t.Fatal(err)
	}
	uri := "/api/v1/task/dag/20167772161028863?show_details=True"
	for _, c := range []Casing{CasingGo, CasingPython} {
		for _, pwd := range []string{"", "root-pass", strings.Repeat("p€ß", 200)} {
			h := ClientHeader{Auth: pwd, Ts: "1800000000", Uri: uri, Keys: keys}
			b, _ := h.Marshal(c)
			if c == CasingGo && !bytes.HasPrefix(b, []byte(`{"Auth":`)) || c == CasingPython && !bytes.HasPrefix(b, []byte(`{"auth": `)) {
				t.Fatalf("casing %v: %s", c, b)
			}
			v, err := EncryptHeader(k.Public(), h, c)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(v)
			if want := (len(b) + SDKChunkSize - 1) / SDKChunkSize * 128; len(raw) != want {
				t.Fatalf("ciphertext %d bytes, want %d (53-byte chunks)", len(raw), want)
			}
			if len(raw)/128 > MaxHeaderBlocks {
				if _, err := k.DecryptHeader(v); !obshell.HasCode(err, obshell.CodeSecurityAuthHeaderDecryptFailed) {
					t.Fatalf("oversized header must be refused: %v", err)
				}
				continue
			}
			got, err := k.DecryptHeader(v)
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			if got.Auth != pwd || got.Ts != "1800000000" || got.Uri != uri || !bytes.Equal(got.Keys, keys) {
				t.Fatalf("%v: decrypted %+v", c, got)
			}
		}
	}
	// Go casing without a body sends "Keys":null; Python always sends keys.
	b, _ := ClientHeader{Auth: "x", Ts: "1", Uri: "/u"}.Marshal(CasingGo)
	if string(b) != `{"Auth":"x","Ts":"1","Uri":"/u","Keys":null}` {
		t.Fatal(string(b))
	}
	b, _ = ClientHeader{Auth: "x", Ts: "1", Uri: "/u"}.Marshal(CasingPython)
	if string(b) != `{"auth": "x", "ts": "1", "uri": "/u", "keys": ""}` {
		t.Fatal(string(b))
	}
	// An empty plaintext is one block (the SDKs' special case).
	v, err := EncryptBlocks(k.Public(), nil, SDKChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := base64.StdEncoding.DecodeString(v); len(raw) != 128 {
		t.Fatalf("empty plaintext: %d bytes", len(raw))
	}
	if p, err := k.DecryptBlocks(v); err != nil || len(p) != 0 {
		t.Fatalf("empty round trip: %q %v", p, err)
	}
	if _, err := EncryptBlocks(k.Public(), []byte("x"), 118); err == nil {
		t.Fatal("chunk > k-11 must fail")
	}
}

func TestDecryptHeaderErrors(t *testing.T) {
	k := fixedKey(t)
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := EncryptHeader(k.Public(), ClientHeader{Auth: "a", Ts: "1", Uri: "/x"}, CasingGo)
	foreign, _ := EncryptHeader(other.Public(), ClientHeader{Auth: "a", Ts: "1", Uri: "/x"}, CasingGo)
	notJSON, _ := EncryptBlocks(k.Public(), []byte("not json"), SDKChunkSize)
	wrongType, _ := EncryptBlocks(k.Public(), []byte(`{"Auth":1}`), SDKChunkSize)
	raw, _ := base64.StdEncoding.DecodeString(good)
	partial := base64.StdEncoding.EncodeToString(raw[:len(raw)-5])
	tooMany := base64.StdEncoding.EncodeToString(bytes.Repeat(raw[:128], MaxHeaderBlocks+1))
	cases := map[string]string{
		"bad base64":       "Decrypt http header failed: illegal base64 data",
		"":                 "Decrypt http header failed: unexpected end of JSON input",
		foreign:            "Decrypt http header failed: crypto/rsa: decryption error",
		partial:            "Decrypt http header failed: crypto/rsa: decryption error",
		notJSON:            "Decrypt http header failed: invalid character",
		wrongType:          "Decrypt http header failed: json: cannot unmarshal number",
		tooMany:            "Decrypt http header failed: 33 rsa blocks, at most 32 allowed",
		good[:len(good)-1]: "Decrypt http header failed: illegal base64 data",
	}
	for in, msg := range cases {
		_, err := k.DecryptHeader(in)
		wantErr(t, err, 401, "Security.Authentication.Header.DecryptFailed", 1, msg)
	}
}

func TestBody(t *testing.T) {
	keys, _ := NewBodyKeys()
	for _, plain := range []string{"", "{}", `{"clusterName":"c","clusterId":1,"rootPwd":"p"}`, strings.Repeat("x", 16)} {
		enc, err := EncryptBody([]byte(plain), keys)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(string(enc))
		if len(raw) != (len(plain)/16+1)*16 {
			t.Fatalf("padding must always be added: %d → %d", len(plain), len(raw))
		}
		got, err := DecryptBody(enc, keys)
		if err != nil || string(got) != plain {
			t.Fatalf("%q → %q %v", plain, got, err)
		}
	}
	if got, err := DecryptBody(nil, nil); err != nil || len(got) != 0 {
		t.Fatal("empty body passes without keys")
	}
	enc, _ := EncryptBody([]byte(`{"a":1}`), keys)
	wantErr(t, errOf(DecryptBody(enc, keys[:15])), 500, "Request.Body.Decrypt.AES.KeyAndIv.Invalid", 0, "Unauthorized: AES key and IV size error")
	wantErr(t, errOf(DecryptBody(enc, keys[:20])), 500, "Request.Body.Decrypt.AES.KeyAndIv.Invalid", 0, "Unauthorized: AES key and IV size error")
	wantErr(t, errOf(DecryptBody(enc, append(keys, 1))), 500, "Request.Body.Decrypt.AES.KeyAndIv.Invalid", 0, "Unauthorized: AES key and IV size error")
	wantErr(t, errOf(DecryptBody([]byte(base64.StdEncoding.EncodeToString([]byte("short"))), keys)), 500,
		"Request.Body.Decrypt.AES.ContentLength.Invalid", 0, "Unauthorized: Decrypted string length is not a multiple of the block size")
	wantErr(t, errOf(DecryptBody([]byte("@@@@"), keys)), 401, "Common.Unauthorized", 10008, "Unauthorized: invalid PKCS#7 padding")
	otherKeys, _ := NewBodyKeys()
	if got, err := DecryptBody(enc, otherKeys); err == nil && string(got) == `{"a":1}` {
		t.Fatal("wrong key must not decrypt")
	}
	if _, err := EncryptBody(nil, keys[:31]); err == nil {
		t.Fatal("EncryptBody needs 32 bytes of keys")
	}
}

func errOf(_ []byte, err error) error { return err }

func TestVerifier(t *testing.T) {
	now := time.Unix(1_800_000_000, 500_000_000)
	v := NewVerifier()
	v.Now = func() time.Time { return now }
	hdr := func(auth, ts string) *Header {
		return &Header{Auth: auth, Ts: ts, Uri: "/api/v1/ob/init", Digest: sha256.Sum256([]byte(auth + "|" + ts))}
	}
	if err := v.Verify(hdr("pw", "1800000060"), "/api/v1/ob/init", "pw"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, v.Verify(hdr("pw", "1800000061"), "/api/v1/ob/init?x=1", "pw"), 401, "Security.Authentication.Header.UriMismatch", 10008, "URI mismatch")
	wantErr(t, v.Verify(hdr("pw", "1799999999"), "/api/v1/ob/init", "pw"), 401, "Security.Authentication.Expired", 10008, "Unauthorized: Authentication expired")
	if err := v.Verify(hdr("pw", "1800000000"), "/api/v1/ob/init", "pw"); err != nil {
		t.Fatalf("ts equal to the current second is still valid: %v", err)
	}
	wantErr(t, v.Verify(hdr("pw", "soon"), "/api/v1/ob/init", "pw"), 401, "Security.Authentication.Timestamp.Invalid", 10008,
		`Unauthorized: Invalid timestamp: soon, err: strconv.ParseInt: parsing "soon": invalid syntax`)
	wantErr(t, v.Verify(hdr("pw", "1800003601"), "/api/v1/ob/init", "pw"), 401, "Security.Authentication.Timestamp.Invalid", 10008,
		"Unauthorized: Invalid timestamp: 1800003601, err: more than 1h0m0s in the future")
	if err := v.Verify(hdr("pw", "1800003600"), "/api/v1/ob/init", "pw"); err != nil {
		t.Fatalf("exactly the cap is allowed: %v", err)
	}
	wantErr(t, v.Verify(hdr("bad", "1800000062"), "/api/v1/ob/init", "pw"), 401, "Security.Authentication.IncorrectOceanbasePassword", 10008,
		"Unauthorized: OceanBase password is incorrect")
	// Empty password: obshell does not look at Ts at all.
	if err := v.Verify(hdr("", "garbage"), "/api/v1/ob/init", ""); err != nil {
		t.Fatalf("empty password skips the ts check: %v", err)
	}
	wantErr(t, v.Verify(hdr("", "1"), "/api/v1/ob/init", "pw"), 401, "Security.Authentication.IncorrectOceanbasePassword", 10008, "Unauthorized: OceanBase password is incorrect")

	// Replay: the same ciphertext twice is refused, until it expires.
	h := hdr("pw", "1800000030")
	h.Digest = [32]byte{42}
	if err := v.Verify(h, "/api/v1/ob/init", "pw"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, v.Verify(h, "/api/v1/ob/init", "pw"), 401, "Security.Authentication.Unauthorized", 10008, "Unauthorized: Authentication failed: header replayed")
	now = now.Add(31 * time.Second)
	wantErr(t, v.Verify(h, "/api/v1/ob/init", "pw"), 401, "Security.Authentication.Expired", 10008, "Unauthorized: Authentication expired")

	if !PasswordEqual("a", "a") || PasswordEqual("a", "b") || PasswordEqual("", "a") || !PasswordEqual("", "") {
		t.Fatal("PasswordEqual")
	}
	if err := CheckURI(&Header{Uri: "/a?b=1"}, "/a?b=1"); err != nil {
		t.Fatal(err)
	}
}

func TestReplayCache(t *testing.T) {
	c := NewReplayCache(3)
	t0 := time.Unix(100, 0)
	d := func(b byte) [32]byte { return [32]byte{b} }
	if c.Seen(d(1), t0.Add(10*time.Second), t0) || !c.Seen(d(1), t0.Add(10*time.Second), t0.Add(time.Second)) {
		t.Fatal("first sighting records, second is a replay")
	}
	if c.Seen(d(1), t0.Add(20*time.Second), t0.Add(10*time.Second)) {
		t.Fatal("expired entry must be accepted again")
	}
	c.Seen(d(2), t0.Add(30*time.Second), t0.Add(10*time.Second))
	c.Seen(d(3), t0.Add(40*time.Second), t0.Add(10*time.Second))
	if c.Len() != 3 {
		t.Fatalf("len %d", c.Len())
	}
	// Full and nothing expired: the entry closest to expiry (d1, until t0+20s) is evicted.
	c.Seen(d(4), t0.Add(50*time.Second), t0.Add(11*time.Second))
	if c.Len() != 3 || c.Evicted() != 1 {
		t.Fatalf("len %d evicted %d", c.Len(), c.Evicted())
	}
	if c.Seen(d(1), t0.Add(20*time.Second), t0.Add(12*time.Second)) {
		t.Fatal("evicted entry is forgotten")
	}
	if !c.Seen(d(3), t0.Add(40*time.Second), t0.Add(12*time.Second)) {
		t.Fatal("d3 must still be remembered")
	}
	// Everything expires.
	c.Seen(d(9), t0.Add(200*time.Second), t0.Add(100*time.Second))
	if c.Len() != 1 {
		t.Fatalf("expired entries must be dropped, len %d", c.Len())
	}
}

func TestTryDecryptPassword(t *testing.T) {
	k := fixedKey(t)
	enc, _ := EncryptBlocks(k.Public(), []byte("s3cret"), SDKChunkSize)
	if len(enc) != EncryptedPasswordMinLen {
		t.Fatalf("one block is %d chars", len(enc))
	}
	if p, ok := k.TryDecryptPassword(enc); !ok || p != "s3cret" {
		t.Fatalf("%q %v", p, ok)
	}
	if p, ok := k.TryDecryptPassword("plain"); ok || p != "plain" {
		t.Fatal("short values are literal")
	}
	long := strings.Repeat("A", 172)
	if p, ok := k.TryDecryptPassword(long); ok || p != long {
		t.Fatal("undecryptable long values are literal")
	}
	self, _ := k.EncryptForSelf([]byte(strings.Repeat("z", 200)))
	if p, err := k.DecryptBlocks(self); err != nil || string(p) != strings.Repeat("z", 200) {
		t.Fatal("EncryptForSelf round trip")
	}
}

// FuzzDecryptHeader: any header value yields a header or a code-1 error, never a panic.
func FuzzDecryptHeader(f *testing.F) {
	k := fixedKey(f)
	for _, c := range []Casing{CasingGo, CasingPython} {
		v, _ := EncryptHeader(k.Public(), ClientHeader{Auth: "pw", Ts: "1800000000", Uri: "/api/v1/info", Keys: make([]byte, 32)}, c)
		f.Add(v)
	}
	f.Add("")
	f.Add("====")
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 128)))
	f.Fuzz(func(t *testing.T, v string) {
		h, err := k.DecryptHeader(v)
		if err != nil {
			if !obshell.HasCode(err, obshell.CodeSecurityAuthHeaderDecryptFailed) {
				t.Fatalf("wrong error: %v", err)
			}
			return
		}
		if h == nil {
			t.Fatal("nil header without error")
		}
	})
}

// FuzzDecryptBody: any body and keys yield plaintext or an obshell error, never a panic.
func FuzzDecryptBody(f *testing.F) {
	keys := bytes.Repeat([]byte{7}, 32)
	enc, _ := EncryptBody([]byte(`{"import_script":false}`), keys)
	f.Add(enc, keys)
	f.Add([]byte("@@@@"), keys)
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAA=="), keys[:16])
	f.Add([]byte(""), []byte(nil))
	f.Fuzz(func(t *testing.T, body, keys []byte) {
		out, err := DecryptBody(body, keys)
		if err != nil {
			if _, ok := obshell.CodeOf(err); !ok {
				t.Fatalf("non-obshell error: %v", err)
			}
			return
		}
		if len(body) > 0 && len(out) >= len(body) {
			t.Fatalf("plaintext %d bytes from %d bytes of base64", len(out), len(body))
		}
	})
}

// BenchmarkDecryptRequest measures the server side of one authenticated request with a body: the
// SDK-sized header (3 RSA blocks) and the AES body, plus the JSON decoding of the header.
func BenchmarkDecryptRequest(b *testing.B) {
	k := fixedKey(b)
	keys, _ := NewBodyKeys()
	hv, _ := EncryptHeader(k.Public(), ClientHeader{Auth: "root-password", Ts: "1800000000",
		Uri: "/api/v1/obcluster/config", Keys: keys}, CasingGo)
	body, _ := EncryptBody([]byte(`{"clusterName":"obcluster","clusterId":1,"rootPwd":"root-password"}`), keys)
	b.ReportAllocs()
	for b.Loop() {
		h, err := k.DecryptHeader(hv)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecryptBody(body, h.Keys); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptHeaderGet is the header of a body-less GET (Go SDK polling a DAG).
func BenchmarkDecryptHeaderGet(b *testing.B) {
	k := fixedKey(b)
	hv, _ := EncryptHeader(k.Public(), ClientHeader{Auth: "root-password", Ts: "1800000000",
		Uri: "/api/v1/task/dag/20167772161028863"}, CasingGo)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.DecryptHeader(hv); err != nil {
			b.Fatal(err)
		}
	}
}
