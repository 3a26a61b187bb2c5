//go:build !cgo || !unix

package hybridauth

import (
	"crypto/rsa"
	"errors"
)

// newOpenSSLDecrypter is unavailable without cgo: golang-fips/openssl calls libcrypto through
// cgo, so CGO_ENABLED=0 builds always use crypto/rsa.
func newOpenSSLDecrypter(*rsa.PrivateKey) (blockDecrypter, string, error) {
	return nil, "", errors.New("built without cgo")
}
