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
	return opensslDecrypter{key: k, size: priv.Size()}, desc, nil
}

// decrypt does the raw RSA operation in libcrypto (DecryptRSANoPadding also re-encrypts the
// result to catch a faulty CRT computation) and checks the padding in Go.
func (d opensslDecrypter) decrypt(ct []byte) ([]byte, error) {
	if len(ct) != d.size {
		return nil, rsa.ErrDecryption
	}
	em, err := openssl.DecryptRSANoPadding(d.key, ct)
	if err != nil || len(em) != d.size {
		return nil, rsa.ErrDecryption
	}
	return unpadPKCS1v15(em)
}
