//go:build cgo && unix

package hybridauth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"

	"github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// libcryptoNames are tried in order when LibcryptoEnv is unset: OpenSSL 3 first, then 1.1
// (golang-fips/openssl supports 1.0.2 to 3.x).
var libcryptoNames = []string{"libcrypto.so.3", "libcrypto.so.1.1"}

// opensslInit loads libcrypto once per process: openssl.Init is effective only once.
var opensslInit = sync.OnceValues(func() (string, error) {
	names := libcryptoNames
	if lib := os.Getenv(LibcryptoEnv); lib != "" {
		names = []string{lib}
	}
	var errs []error
	for _, name := range names {
		if exists, _ := openssl.CheckVersion(name); !exists {
			errs = append(errs, fmt.Errorf("%s: cannot be loaded", name))
			continue
		}
		if err := openssl.Init(name); err != nil {
			return "", fmt.Errorf("init %s: %w", name, err)
		}
		return name + " (" + openssl.VersionText() + ")", nil
	}
	return "", errors.Join(errs...)
})

// opensslDecrypter holds the key as an OpenSSL EVP_PKEY (safe for concurrent use).
type opensslDecrypter struct {
	key  *openssl.PrivateKeyRSA
	size int
	// pkcs1 selects libcrypto's own PKCS#1 v1.5 padding mode. It is used only where libcrypto
	// answers bad padding with an error, as crypto/rsa does (OpenSSL < 3.2; see
	// unpadPKCS1v15): it saves a tenth of the work, the public-key re-encryption that
	// golang-fips/openssl adds to raw decryption (libcrypto checks its CRT result itself).
	pkcs1 bool
}

func newOpenSSLDecrypter(priv *rsa.PrivateKey) (blockDecrypter, string, error) {
	desc, err := opensslInit()
	if err != nil {
		return nil, "", err
	}
	if len(priv.Primes) != 2 || priv.Precomputed.Dp == nil {
		return nil, "", errors.New("only two-prime keys with precomputed CRT values are supported")
	}
	p, q := priv.Primes[0], priv.Primes[1]
	pc := priv.Precomputed
	k, err := openssl.NewPrivateKeyRSA(bbig.Enc(priv.N), bbig.Enc(big.NewInt(int64(priv.E))), bbig.Enc(priv.D),
		bbig.Enc(p), bbig.Enc(q), bbig.Enc(pc.Dp), bbig.Enc(pc.Dq), bbig.Enc(pc.Qinv))
	if err != nil {
		return nil, "", fmt.Errorf("openssl rsa key: %w", err)
	}
	d := opensslDecrypter{key: k, size: priv.Size()}
	explicit, err := rejectsBadPadding(k, &priv.PublicKey)
	if err != nil {
		return nil, "", err
	}
	d.pkcs1 = explicit
	if explicit {
		desc += ", PKCS#1 v1.5 padding by libcrypto"
	} else {
		desc += ", raw RSA with the padding checked in Go (libcrypto has implicit rejection)"
	}
	return d, desc, nil
}

// rejectsBadPadding reports whether libcrypto's PKCS#1 v1.5 mode fails on a block whose padding
// is wrong (block type 1 instead of 2), rather than returning a synthetic message (OpenSSL 3.2+
// "implicit rejection").
func rejectsBadPadding(k *openssl.PrivateKeyRSA, pub *rsa.PublicKey) (bool, error) {
	em := make([]byte, pub.Size())
	em[1] = 1
	for i := 2; i < len(em)-1; i++ {
		em[i] = 0xff
	}
	pk, err := openssl.NewPublicKeyRSA(bbig.Enc(pub.N), bbig.Enc(big.NewInt(int64(pub.E))))
	if err != nil {
		return false, fmt.Errorf("openssl rsa public key: %w", err)
	}
	ct, err := openssl.EncryptRSANoPadding(pk, em)
	if err != nil {
		return false, fmt.Errorf("openssl raw rsa: %w", err)
	}
	_, err = openssl.DecryptRSAPKCS1(k, ct)
	return err != nil, nil
}

// decrypt does the RSA operation in libcrypto: in its PKCS#1 v1.5 mode where that is safe (see
// pkcs1), else raw (DecryptRSANoPadding also re-encrypts the result) with the padding checked in
// Go.
func (d opensslDecrypter) decrypt(ct []byte) ([]byte, error) {
	if len(ct) != d.size {
		return nil, rsa.ErrDecryption
	}
	if d.pkcs1 {
		m, err := openssl.DecryptRSAPKCS1(d.key, ct)
		if err != nil {
			return nil, rsa.ErrDecryption
		}
		return m, nil
	}
	em, err := openssl.DecryptRSANoPadding(d.key, ct)
	if err != nil || len(em) != d.size {
		return nil, rsa.ErrDecryption
	}
	return unpadPKCS1v15(em)
}
