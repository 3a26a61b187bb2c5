// Package payloadcodec encrypts every Temporal payload obflow writes with
// AES-256-GCM, so workflow inputs, results and failures (which carry host
// addresses, passwords and cluster settings) are opaque to whoever can read
// the Temporal database or its history exports.
//
// Every process that talks to Temporal builds its client with DataConverter
// and the same key (see LoadOrCreateKey). The Web UI decodes payloads through
// HTTPHandler, which the dev server serves next to the UI.
package payloadcodec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const (
	// MetadataEncoding is the value of the "encoding" metadata key of an
	// encrypted payload. Decode uses it to tell encrypted payloads from plain
	// ones, so histories written before encryption was turned on stay readable.
	MetadataEncoding = "binary/obflow-aes256gcm"

	// KeySize is the key length in bytes (AES-256).
	KeySize = 32
)

// Codec is a converter.PayloadCodec that seals each payload (data and
// metadata together, serialized as a protobuf) with AES-GCM under a fresh
// random nonce. The encoded payload's data is nonce || ciphertext || tag.
type Codec struct {
	aead cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec for a KeySize-byte key.
func New(key []byte) (*Codec, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("payload codec key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("aes-gcm: %w", err)
	}
	return &Codec{aead: aead}, nil
}

// DataConverter returns the SDK's default data converter wrapped with an
// AES-GCM codec for key: the converter every obflow client and worker uses.
func DataConverter(key []byte) (converter.DataConverter, error) {
	c, err := New(key)
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c), nil
}

// Encode implements converter.PayloadCodec.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("marshal payload: %w", err)
		}
		nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plain)+c.aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(MetadataEncoding)},
			Data:     c.aead.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

// ErrDecrypt reports a payload that claims to be encrypted but does not open
// with this key: a different key, or data altered after encryption.
var ErrDecrypt = errors.New("payload decryption failed (wrong key or tampered data)")

// Decode implements converter.PayloadCodec. Payloads without the encrypted
// encoding pass through unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncoding {
			out[i] = p
			continue
		}
		data := p.GetData()
		if len(data) < c.aead.NonceSize()+c.aead.Overhead() {
			return nil, fmt.Errorf("%w: %d bytes is too short", ErrDecrypt, len(data))
		}
		nonce, sealed := data[:c.aead.NonceSize()], data[c.aead.NonceSize():]
		plain, err := c.aead.Open(nil, nonce, sealed, nil)
		if err != nil {
			return nil, ErrDecrypt
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fmt.Errorf("unmarshal decrypted payload: %w", err)
		}
		out[i] = &orig
	}
	return out, nil
}
