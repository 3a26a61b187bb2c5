//go:build cgo && unix

package hybridauth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// backends returns the fixed key with crypto/rsa and with each usable OpenSSL mode: raw
// decryption with the padding checked in Go always, libcrypto's PKCS#1 mode where it rejects bad
// padding with an error. Without a loadable libcrypto the test is skipped: the comparison needs
// both.
func backends(t testing.TB) (std *Key, ossl []*Key) {
	t.Helper()
	k := fixedKey(t)
	fast, _, err := newOpenSSLDecrypter(k.priv)
	if err != nil {
		t.Skipf("no OpenSSL back-end here: %v", err)
	}
	d := fast.(opensslDecrypter)
	raw := d
	raw.pkcs1 = false
	ossl = []*Key{withBackend(k, raw, BackendOpenSSL+" raw")}
	if d.pkcs1 {
		ossl = append(ossl, withBackend(k, d, BackendOpenSSL+" pkcs1"))
	}
	return withBackend(k, stdlibDecrypter{k.priv}, BackendGo), ossl
}

// TestOpenSSLSelected: where libcrypto loads (this build machine has libcrypto.so.3), keys use
// it, as the log line says.
func TestOpenSSLSelected(t *testing.T) {
	if _, _, err := newOpenSSLDecrypter(fixedKey(t).priv); err != nil {
		t.Skipf("no OpenSSL back-end here: %v", err)
	}
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.Backend() != BackendOpenSSL {
		t.Fatalf("backend %q although libcrypto loads", k.Backend())
	}
}

// rawEncrypt is the bare RSA public operation (no padding), to build blocks whose padding is
// wrong in a chosen way.
func rawEncrypt(t *testing.T, pub *rsa.PublicKey, em []byte) []byte {
	t.Helper()
	pk, err := openssl.NewPublicKeyRSA(bbig.Enc(pub.N), bbig.Enc(big.NewInt(int64(pub.E))))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := openssl.EncryptRSANoPadding(pk, em)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// em builds an encryption block: 0x00, typ, ps non-zero bytes, sep, msg, sized to 128 bytes by
// the length of ps.
func em(typ byte, psLen int, sep byte, msg []byte) []byte {
	b := []byte{0, typ}
	b = append(b, bytes.Repeat([]byte{0xa5}, psLen)...)
	b = append(b, sep)
	return append(b, msg...)
}

// agree decrypts ct with crypto/rsa and every OpenSSL mode and fails unless they all give the
// same message or all rsa.ErrDecryption. It returns whether the block was valid.
func agree(t testing.TB, std *Key, ossl []*Key, name string, ct []byte) bool {
	t.Helper()
	p1, e1 := std.decryptBlock(ct)
	for _, o := range ossl {
		p2, e2 := o.decryptBlock(ct)
		switch {
		case e1 != nil || e2 != nil:
			if !errors.Is(e1, rsa.ErrDecryption) || !errors.Is(e2, rsa.ErrDecryption) {
				t.Fatalf("%s: crypto/rsa %v, %s %v", name, e1, o.Backend(), e2)
			}
		case !bytes.Equal(p1, p2):
			t.Fatalf("%s: crypto/rsa %x, %s %x", name, p1, o.Backend(), p2)
		}
	}
	return e1 == nil
}

func TestBackendsAgreeOnBlocks(t *testing.T) {
	std, ossl := backends(t)
	pub := std.Public()
	other, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		t.Fatal(err)
	}
	msg := func(n int) []byte { return bytes.Repeat([]byte{'m'}, n) }

	// Valid blocks, every message length a 1024-bit key allows.
	for n := 0; n <= 117; n++ {
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg(n))
		if err != nil {
			t.Fatal(err)
		}
		if !agree(t, std, ossl, "valid", ct) {
			t.Fatalf("valid %d-byte message refused", n)
		}
		// Truncated: the same bytes without their last (or first) byte.
		agree(t, std, ossl, "truncated tail", ct[:len(ct)-1])
		agree(t, std, ossl, "truncated head", ct[1:])
	}

	invalid := map[string][]byte{
		"first byte not zero": append([]byte{1}, em(2, 116, 0, msg(9))[1:]...),
		"block type 1":        em(1, 116, 0, msg(9)),
		"block type 0":        em(0, 116, 0, msg(9)),
		"padding 7 bytes":     em(2, 7, 0, msg(118)),
		"no separator":        em(2, 125, 0xa5, nil),
		"zero in padding":     em(2, 3, 0, msg(122)),
	}
	for name, e := range invalid {
		if len(e) != 128 {
			t.Fatalf("%s: %d-byte block", name, len(e))
		}
		if agree(t, std, ossl, name, rawEncrypt(t, pub, e)) {
			t.Fatalf("%s: accepted", name)
		}
	}
	// Edge cases that are valid: exactly 8 bytes of padding; empty message (separator last).
	for name, e := range map[string][]byte{
		"padding 8 bytes": em(2, 8, 0, msg(117)),
		"empty message":   em(2, 125, 0, nil),
	} {
		if !agree(t, std, ossl, name, rawEncrypt(t, pub, e)) {
			t.Fatalf("%s: refused", name)
		}
	}

	// Not a number below N, zero, one, random blocks, and blocks for another key.
	agree(t, std, ossl, "all ones", bytes.Repeat([]byte{0xff}, 128))
	agree(t, std, ossl, "modulus", std.priv.N.FillBytes(make([]byte, 128)))
	agree(t, std, ossl, "zero", make([]byte, 128))
	agree(t, std, ossl, "one", append(make([]byte, 127), 1))
	for range 200 {
		ct := make([]byte, 128)
		_, _ = rand.Read(ct)
		agree(t, std, ossl, "random", ct)
		wrong, err := rsa.EncryptPKCS1v15(rand.Reader, &other.PublicKey, msg(53))
		if err != nil {
			t.Fatal(err)
		}
		agree(t, std, ossl, "wrong key", wrong)
	}
}

// TestBackendsAgreeOnHeaders: whole headers give the same Header or the same obshell error
// (status, errCode, code, message) with either back-end.
func TestBackendsAgreeOnHeaders(t *testing.T) {
	std, ossl := backends(t)
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := EncryptHeader(std.Public(), ClientHeader{Auth: "pw", Ts: "1800000000", Uri: "/api/v1/task/dag/1?show_details=true", Keys: make([]byte, 32)}, CasingPython)
	foreign, _ := EncryptHeader(other.Public(), ClientHeader{Auth: "pw", Ts: "1", Uri: "/x"}, CasingGo)
	raw, _ := base64.StdEncoding.DecodeString(good)
	badPad := rawEncrypt(t, std.Public(), em(1, 116, 0, bytes.Repeat([]byte{'{'}, 9)))
	for name, v := range map[string]string{
		"good":          good,
		"foreign key":   foreign,
		"truncated":     base64.StdEncoding.EncodeToString(raw[:len(raw)-5]),
		"one byte left": base64.StdEncoding.EncodeToString(raw[:len(raw)-127]),
		"bad padding":   base64.StdEncoding.EncodeToString(append(raw[:128:128], badPad...)),
		"not base64":    "!!",
	} {
		h1, e1 := std.DecryptHeader(v)
		for _, o := range ossl {
			h2, e2 := o.DecryptHeader(v)
			if (e1 == nil) != (e2 == nil) {
				t.Fatalf("%s: crypto/rsa %v, %s %v", name, e1, o.Backend(), e2)
			}
			if e1 != nil {
				if e1.Error() != e2.Error() {
					t.Fatalf("%s: crypto/rsa %q, %s %q", name, e1, o.Backend(), e2)
				}
				wantErr(t, e2, 401, "Security.Authentication.Header.DecryptFailed", 1, "Decrypt http header failed: ")
				continue
			}
			if !reflect.DeepEqual(h1, h2) {
				t.Fatalf("%s: headers differ: %+v vs %+v", name, h1, h2)
			}
		}
		if (e1 == nil) != (name == "good") {
			t.Fatalf("%s: crypto/rsa says %v", name, e1)
		}
	}
}

// FuzzBackendsAgree: any block decrypts the same, or fails the same, with both back-ends.
func FuzzBackendsAgree(f *testing.F) {
	std, ossl := backends(f)
	ct, _ := rsa.EncryptPKCS1v15(rand.Reader, std.Public(), []byte(`{"Auth":"pw","Ts":"1800000000",`))
	f.Add(ct)
	f.Add(ct[:100])
	f.Add(make([]byte, 128))
	f.Add(bytes.Repeat([]byte{0xff}, 128))
	f.Fuzz(func(t *testing.T, ct []byte) {
		agree(t, std, ossl, "fuzz", ct)
	})
}

// BenchmarkDecryptBlock compares the back-ends on one 1024-bit block.
func BenchmarkDecryptBlock(b *testing.B) {
	std, ossl := backends(b)
	ct, _ := rsa.EncryptPKCS1v15(rand.Reader, std.Public(), bytes.Repeat([]byte{'m'}, SDKChunkSize))
	for _, k := range append([]*Key{std}, ossl...) {
		b.Run(k.Backend(), func(b *testing.B) {
			for b.Loop() {
				if _, err := k.decryptBlock(ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
