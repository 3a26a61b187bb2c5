package payloadcodec

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateKey reads the hex-encoded key in path, or, when the file does
// not exist yet, generates a random key and writes it there with 0600
// permissions. Two processes creating it at once end up with the same key.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate codec key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create codec key dir: %w", err)
	}
	// Write a temporary file, then hard-link it into place: the link fails if
	// the key already exists, and readers never see a half-written key.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".codec-key-*")
	if err != nil {
		return nil, fmt.Errorf("create codec key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return nil, fmt.Errorf("create codec key file: %w", err)
	}
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write codec key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first; use that key.
			return LoadKey(path)
		}
		return nil, fmt.Errorf("install codec key file: %w", err)
	}
	return key, nil
}

// LoadKey reads a hex-encoded KeySize-byte key from path. A missing file
// yields an error that matches fs.ErrNotExist.
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read codec key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("codec key file %s: not hex: %w", path, err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("codec key file %s: want %d bytes, got %d", path, KeySize, len(key))
	}
	return key, nil
}
