package hybridauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"log/slog"
	"os"
	"sync"
)

// blockDecrypter does the RSA private-key operation for one PKCS#1 v1.5 block. Two back-ends
// implement it: crypto/rsa (always available) and OpenSSL's libcrypto through
// github.com/golang-fips/openssl (cgo builds, when libcrypto loads). Go's constant-time RSA costs
// about 300 µs per 1024-bit block and an SDK header is 2–4 blocks, which made header decryption
// three quarters of an authenticated GET; libcrypto does the same block in about 80 µs.
type blockDecrypter interface {
	// decrypt returns the message of ct, a block of exactly Size() bytes, or rsa.ErrDecryption.
	decrypt(ct []byte) ([]byte, error)
}

// Back-end names reported by Key.Backend.
const (
	BackendGo      = "crypto/rsa"
	BackendOpenSSL = "openssl"
)

// LibcryptoEnv names the environment variable that selects the libcrypto to load
// ("libcrypto.so.3", a path, ...), or "off" to use crypto/rsa only.
const LibcryptoEnv = "OBFLOW_LIBCRYPTO"

// stdlibDecrypter is crypto/rsa: the reference the OpenSSL back-end is tested against.
type stdlibDecrypter struct{ priv *rsa.PrivateKey }

func (d stdlibDecrypter) decrypt(ct []byte) ([]byte, error) {
	return rsa.DecryptPKCS1v15(nil, d.priv, ct)
}

// logBackendOnce logs which back-end the process uses, the first time a key is made.
var logBackendOnce sync.Once

// newBlockDecrypter picks the fastest back-end that works for priv and proves it: a block
// encrypted with crypto/rsa must decrypt to the same message, else crypto/rsa is used (a FIPS
// libcrypto may refuse RSA-1024, for example).
func newBlockDecrypter(priv *rsa.PrivateKey) (blockDecrypter, string) {
	std := stdlibDecrypter{priv}
	if os.Getenv(LibcryptoEnv) == "off" {
		logBackendOnce.Do(func() {
			slog.Info("hybridauth: RSA header decryption uses crypto/rsa", "reason", LibcryptoEnv+"=off")
		})
		return std, BackendGo
	}
	fast, desc, err := newOpenSSLDecrypter(priv)
	if err == nil {
		err = selfTest(priv, fast)
	}
	if err != nil {
		logBackendOnce.Do(func() {
			slog.Info("hybridauth: RSA header decryption uses crypto/rsa (slower); OpenSSL is not usable", "reason", err)
		})
		return std, BackendGo
	}
	logBackendOnce.Do(func() {
		slog.Info("hybridauth: RSA header decryption uses OpenSSL", "libcrypto", desc)
	})
	return fast, BackendOpenSSL
}

// selfTest checks d against crypto/rsa on one fresh block.
func selfTest(priv *rsa.PrivateKey, d blockDecrypter) error {
	msg := make([]byte, SDKChunkSize)
	if _, err := rand.Read(msg); err != nil {
		return err
	}
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, msg)
	if err != nil {
		return err
	}
	got, err := d.decrypt(ct)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, msg) != 1 {
		return errors.New("self-test: OpenSSL and crypto/rsa disagree")
	}
	return nil
}

// decryptBlock is the one entry point for an RSA block: ct may be shorter than the key size (the
// last block of a truncated header); it is left-padded with zeros, which is the same number, so
// both back-ends see the same input and fail or succeed alike.
func (k *Key) decryptBlock(ct []byte) ([]byte, error) {
	size := k.priv.Size()
	if len(ct) > size {
		return nil, rsa.ErrDecryption
	}
	if len(ct) < size {
		full := make([]byte, size)
		copy(full[size-len(ct):], ct)
		ct = full
	}
	return k.dec.decrypt(ct)
}

// Backend names the back-end this key decrypts with: BackendOpenSSL or BackendGo.
func (k *Key) Backend() string { return k.backend }

// unpadPKCS1v15 checks and strips the PKCS#1 v1.5 encryption padding of em (0x00 0x02, at least
// eight non-zero bytes, 0x00, message) in constant time, as crypto/rsa does for its BoringCrypto
// back-end, so that it accepts and rejects exactly what rsa.DecryptPKCS1v15 does. OpenSSL's own
// PKCS#1 padding mode is not used because OpenSSL 3.2+ answers bad padding with a synthetic
// message ("implicit rejection") instead of an error.
func unpadPKCS1v15(em []byte) ([]byte, error) {
	if len(em) < 11 {
		return nil, rsa.ErrDecryption
	}
	firstByteIsZero := subtle.ConstantTimeByteEq(em[0], 0)
	secondByteIsTwo := subtle.ConstantTimeByteEq(em[1], 2)
	// lookingForIndex is 1 until the first zero after the type byte; index is its offset.
	lookingForIndex, index := 1, 0
	for i := 2; i < len(em); i++ {
		equals0 := subtle.ConstantTimeByteEq(em[i], 0)
		index = subtle.ConstantTimeSelect(lookingForIndex&equals0, i, index)
		lookingForIndex = subtle.ConstantTimeSelect(equals0, 0, lookingForIndex)
	}
	validPS := subtle.ConstantTimeLessOrEq(2+8, index)
	if firstByteIsZero&secondByteIsTwo&(^lookingForIndex&1)&validPS != 1 {
		return nil, rsa.ErrDecryption
	}
	return em[index+1:], nil
}
