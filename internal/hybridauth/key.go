// Package hybridauth implements obshell's v2 "hybrid encryption" request authentication, both
// sides (CONTRACT.md §5.2–§5.4): an RSA-1024 key per agent, an X-OCS-Header holding an RSA PKCS#1 v1.5
// block-wise encrypted JSON object {Auth, Ts, Uri, Keys}, and an AES-128-CBC request body keyed by
// Keys. Errors are *obshell.Error values with the codes obshell answers with.
package hybridauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyBits is the size of generated keys (obshell's KEY_SIZE).
const KeyBits = 1024

const pemType = "RSA PRIVATE KEY" // PKCS#1

// Key is an agent's RSA key pair.
type Key struct {
	priv    *rsa.PrivateKey
	pubB64  string
	dec     blockDecrypter // the private-key operation, see decryptBlock
	backend string
}

// GenerateKey creates a new RSA-1024 key.
func GenerateKey() (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	return newKey(priv), nil
}

func newKey(priv *rsa.PrivateKey) *Key {
	priv.Precompute()
	dec, backend := newBlockDecrypter(priv)
	return &Key{
		priv:    priv,
		pubB64:  base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&priv.PublicKey)),
		dec:     dec,
		backend: backend,
	}
}

// LoadOrCreateKey loads the PEM PKCS#1 private key at path, or creates it (directories 0700, file
// 0600) if it does not exist. Creation is atomic (temp file + hard link), so concurrent starters
// agree on one key. An existing file readable by group or others is narrowed to 0600. A key
// smaller than KeyBits is replaced, as obshell's EnsureKeySize replaces legacy 512-bit keys.
func LoadOrCreateKey(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, perr := parseKeyPEM(data)
		if perr != nil {
			return nil, fmt.Errorf("load key %s: %w", path, perr)
		}
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, fmt.Errorf("restrict key file %s: %w", path, err)
			}
		}
		if k.priv.N.BitLen() >= KeyBits {
			return k, nil
		}
		// Legacy small key: replace it in place.
		nk, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		if err := writeKeyFile(path, nk, true); err != nil {
			return nil, err
		}
		return nk, nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create key dir: %w", err)
		}
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		if err := writeKeyFile(path, k, false); err != nil {
			if errors.Is(err, fs.ErrExist) { // another process won the race: use its key
				return LoadOrCreateKey(path)
			}
			return nil, err
		}
		return k, nil
	default:
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
}

func parseKeyPEM(data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, errors.New("no PEM " + pemType + " block")
	}
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#1 key: %w", err)
	}
	return newKey(priv), nil
}

// writeKeyFile writes k to path with 0600. With replace=false it fails with fs.ErrExist if path
// appeared meanwhile.
func writeKeyFile(path string, k *Key, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".obflow-key-*") // created 0600
	if err != nil {
		return fmt.Errorf("create temp key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: x509.MarshalPKCS1PrivateKey(k.priv)})
	if _, err := tmp.Write(pemBytes); err != nil {
		tmp.Close()
		return fmt.Errorf("write key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close key: %w", err)
	}
	if replace {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("install key: %w", err)
		}
		return nil
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("install key: %w", err)
	}
	return nil
}

// PublicKeyBase64 is the /api/v1/secret public_key: base64 (std, padded) of the DER PKCS#1
// RSAPublicKey.
func (k *Key) PublicKeyBase64() string { return k.pubB64 }

// Public returns the public half.
func (k *Key) Public() *rsa.PublicKey { return &k.priv.PublicKey }

// Size is the modulus size in bytes (the ciphertext block size, 128 for RSA-1024).
func (k *Key) Size() int { return k.priv.Size() }

// ParsePublicKey decodes a /api/v1/secret public_key.
func ParsePublicKey(b64 string) (*rsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	pub, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	return pub, nil
}

// SDKChunkSize is the plaintext chunk both SDKs use for RSA block-wise encryption (sized for
// 512-bit keys; it works with any larger key).
const SDKChunkSize = 53

// EncryptBlocks encrypts plain with RSA PKCS#1 v1.5 in chunks of at most chunk bytes and returns
// base64 of the concatenated blocks. An empty plaintext gives one block, as in the SDKs. chunk
// must be in 1..k-11.
func EncryptBlocks(pub *rsa.PublicKey, plain []byte, chunk int) (string, error) {
	if chunk < 1 || chunk > pub.Size()-11 {
		return "", fmt.Errorf("chunk size %d out of range [1, %d]", chunk, pub.Size()-11)
	}
	out := make([]byte, 0, (len(plain)/chunk+1)*pub.Size())
	for start := 0; ; start += chunk {
		end := min(start+chunk, len(plain))
		block, err := rsa.EncryptPKCS1v15(rand.Reader, pub, plain[start:end])
		if err != nil {
			return "", fmt.Errorf("rsa encrypt: %w", err)
		}
		out = append(out, block...)
		if end >= len(plain) {
			break
		}
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// MaxHeaderBlocks bounds the RSA work one request can cause: 32 blocks hold 3.7 KB of header
// JSON (an SDK header is 2–4 blocks).
const MaxHeaderBlocks = 32

// decryptBlocks base64-decodes s and RSA-decrypts it in blocks of k bytes (obshell's
// DecryptAndReturnBytes). It also returns the ciphertext for replay detection.
func (k *Key) decryptBlocks(s string, maxBlocks int) (plain, cipher []byte, err error) {
	ct, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, nil, err
	}
	size := k.priv.Size()
	n := (len(ct) + size - 1) / size
	if maxBlocks > 0 && n > maxBlocks {
		return nil, nil, fmt.Errorf("%d rsa blocks, at most %d allowed", n, maxBlocks)
	}
	plain = make([]byte, 0, n*(size-11))
	for start := 0; start < len(ct); start += size {
		end := min(start+size, len(ct))
		p, err := k.decryptBlock(ct[start:end])
		if err != nil {
			return nil, nil, err
		}
		plain = append(plain, p...)
	}
	return plain, ct, nil
}

// DecryptBlocks reverses EncryptBlocks with this key (any chunk size).
func (k *Key) DecryptBlocks(s string) ([]byte, error) {
	p, _, err := k.decryptBlocks(s, 0)
	return p, err
}

// EncryptForSelf encrypts plain for this key with k-11-byte chunks (obshell's sectionalEncrypt),
// the form in which obshell stores passwords.
func (k *Key) EncryptForSelf(plain []byte) (string, error) {
	return EncryptBlocks(k.Public(), plain, k.priv.Size()-11)
}

// EncryptedPasswordMinLen is the base64 length of one RSA-1024 block: obshell only tries to
// decrypt a rootPwd at least this long (parseRootPwd, CONTRACT.md §5.7).
const EncryptedPasswordMinLen = 172

// TryDecryptPassword applies obshell's rootPwd heuristic: a value of at least 172 characters that
// decrypts with this key is a ciphertext (from SDKs talking to agents < 4.2.4); anything else is
// the literal password. ok reports whether it was decrypted.
func (k *Key) TryDecryptPassword(s string) (plain string, ok bool) {
	if len(s) < EncryptedPasswordMinLen {
		return s, false
	}
	p, err := k.DecryptBlocks(s)
	if err != nil {
		return s, false
	}
	return string(p), true
}
