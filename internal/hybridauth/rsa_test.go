package hybridauth

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"testing"
)

// withBackend returns a copy of k that decrypts with dec.
func withBackend(k *Key, dec blockDecrypter, name string) *Key {
	c := *k
	c.dec, c.backend = dec, name
	return &c
}

// TestLibcryptoOff: OBFLOW_LIBCRYPTO=off selects crypto/rsa, which must still decrypt.
func TestLibcryptoOff(t *testing.T) {
	t.Setenv(LibcryptoEnv, "off")
	data, err := os.ReadFile("testdata/testkey.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := parseKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	if k.Backend() != BackendGo {
		t.Fatalf("backend %q with %s=off", k.Backend(), LibcryptoEnv)
	}
	v, _ := EncryptHeader(k.Public(), ClientHeader{Auth: "pw", Ts: "1800000000", Uri: "/api/v1/info"}, CasingPython)
	h, err := k.DecryptHeader(v)
	if err != nil || h.Auth != "pw" || h.Uri != "/api/v1/info" {
		t.Fatalf("decrypt with crypto/rsa: %+v %v", h, err)
	}
}

// TestDecryptBlockShortAndLong: the entry point pads short blocks and refuses long ones, with
// crypto/rsa's error.
func TestDecryptBlockShortAndLong(t *testing.T) {
	k := fixedKey(t)
	for _, n := range []int{0, 1, 50, 127, 129, 300} {
		ct := make([]byte, n)
		_, _ = rand.Read(ct)
		if _, err := k.decryptBlock(ct); !errors.Is(err, rsa.ErrDecryption) {
			t.Errorf("%d-byte block: %v, want rsa.ErrDecryption", n, err)
		}
	}
}
