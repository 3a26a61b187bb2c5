package hybridauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/obflow/obflow/internal/obshell"
)

// AESKeySize is the AES key size obshell uses (AES-128); Keys is key || IV.
const AESKeySize = 16

// errBadPadding is a plain error on purpose: obshell wraps body errors with
// WrapRetain(Common.Unauthorized, ...), so a plain cause surfaces as 401 Common.Unauthorized 10008.
var errBadPadding = errors.New("invalid PKCS#7 padding")

// DecryptBody decrypts a request body with the header's Keys: key = Keys[0:16], IV = Keys[16:].
// An empty body is returned as is (no keys needed). Errors follow obshell's BodyDecrypt, whose
// failures are wrapped with WrapRetain(Common.Unauthorized, …):
//   - len(Keys) < 16, or an IV that is not 16 bytes (obshell panics there) → 500
//     Request.Body.Decrypt.AES.KeyAndIv.Invalid "Unauthorized: AES key and IV size error";
//   - a ciphertext whose length is not a multiple of 16 → 500
//     Request.Body.Decrypt.AES.ContentLength.Invalid;
//   - bad PKCS#7 padding (obshell does not check and may panic) → 401 Common.Unauthorized 10008.
//
// Like obshell it ignores base64 errors and decrypts what decoded before the error.
func DecryptBody(body, keys []byte) ([]byte, error) {
	if len(body) == 0 {
		return body, nil
	}
	if len(keys) < AESKeySize || len(keys)-AESKeySize != aes.BlockSize {
		return nil, obshell.WrapRetain(obshell.CodeCommonUnauthorized, obshell.NewAESKeyAndIVInvalid())
	}
	block, err := aes.NewCipher(keys[:AESKeySize])
	if err != nil { // cannot happen with 16 bytes; keep the mapping anyway
		return nil, obshell.WrapRetain(obshell.CodeCommonUnauthorized, err)
	}
	ct := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, _ := base64.StdEncoding.Decode(ct, body)
	ct = ct[:n]
	if len(ct)%aes.BlockSize != 0 {
		return nil, obshell.WrapRetain(obshell.CodeCommonUnauthorized, obshell.NewAESContentLengthInvalid())
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, keys[AESKeySize:]).CryptBlocks(plain, ct)
	out, err := unpad(plain)
	if err != nil {
		return nil, obshell.WrapRetain(obshell.CodeCommonUnauthorized, err)
	}
	return out, nil
}

// unpad removes PKCS#7 padding. It checks the pad length only (1..16, within the data), as
// lenient as obshell's unpadding on what the SDKs send, without its out-of-range panic.
func unpad(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errBadPadding
	}
	p := int(b[len(b)-1])
	if p == 0 || p > aes.BlockSize || p > len(b) {
		return nil, errBadPadding
	}
	return b[:len(b)-p], nil
}

// NewBodyKeys returns a random AES-128 key and IV as Keys (key || IV, 32 bytes).
func NewBodyKeys() ([]byte, error) {
	keys := make([]byte, AESKeySize+aes.BlockSize)
	if _, err := rand.Read(keys); err != nil {
		return nil, fmt.Errorf("generate aes keys: %w", err)
	}
	return keys, nil
}

// EncryptBody encrypts plain with AES-128-CBC and PKCS#7 padding (always 1..16 bytes) using
// keys = key || IV, and returns the base64 text that is sent as the HTTP body.
func EncryptBody(plain, keys []byte) ([]byte, error) {
	if len(keys) != AESKeySize+aes.BlockSize {
		return nil, fmt.Errorf("keys must be %d bytes, got %d", AESKeySize+aes.BlockSize, len(keys))
	}
	block, err := aes.NewCipher(keys[:AESKeySize])
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	p := aes.BlockSize - len(plain)%aes.BlockSize
	padded := make([]byte, len(plain)+p)
	copy(padded, plain)
	for i := len(plain); i < len(padded); i++ {
		padded[i] = byte(p)
	}
	cipher.NewCBCEncrypter(block, keys[AESKeySize:]).CryptBlocks(padded, padded)
	out := make([]byte, base64.StdEncoding.EncodedLen(len(padded)))
	base64.StdEncoding.Encode(out, padded)
	return out, nil
}
