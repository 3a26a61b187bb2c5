package obsim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// handshakeTimeout bounds how long a new connection may take to log in.
const handshakeTimeout = 10 * time.Second

// sqlListener hands accepted connections to the MySQL server only when the
// observer is ready and the fault file does not say to refuse them; other
// connections are closed at once, which a client sees as a failed connect.
type sqlListener struct {
	net.Listener
	admit func() bool
}

func (l *sqlListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.admit() {
			c.Close()
			continue
		}
		_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
		return &psRewriteConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
	}
}

// psRewriteConn lets OceanBase statements that the protocol layer's parser
// rejects (ALTER SYSTEM ..., CREATE DATABASE ... READ WRITE) be prepared:
// vitess parses COM_STMT_PREPARE before any handler sees it, so such a
// statement is swapped, on the wire, for a parseable stand-in that carries
// the original text; the handler restores it (see psOriginal).
//
// Only command packets are inspected: the client starts every command with
// sequence number 0, while its handshake packets never use 0.
type psRewriteConn struct {
	net.Conn
	r        *bufio.Reader
	pending  []byte
	greeting bool // the client's handshake response was seen
}

const (
	comStmtPrepare = 0x16
	comStmtReset   = 0x1a
	comPing        = 0x0e
	maxPacket      = 1<<24 - 1
	psMarker       = "/*obsim-ps:"
)

func (c *psRewriteConn) Read(b []byte) (int, error) {
	if len(c.pending) == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
			return 0, err
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		seq := hdr[3]
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return 0, err
		}
		if !c.greeting {
			c.greeting = true
			if !handshakeResponseSafe(payload) {
				return 0, errBadHandshake
			}
		}
		if seq == 0 && n >= 1 && payload[0] == comStmtReset {
			// The protocol layer dereferences a nil statement when
			// COM_STMT_RESET names an unknown statement (it recovers, but
			// the client gets two replies). A reset answers OK and only
			// drops long data, which no client of the simulator sends, so
			// it is answered as a COM_PING, which also replies OK.
			payload = []byte{comPing}
			n = 1
			hdr[0], hdr[1], hdr[2] = 1, 0, 0
		}
		if seq == 0 && n > 1 && n < maxPacket && payload[0] == comStmtPrepare {
			if q, ok := psStandIn(string(payload[1:])); ok {
				payload = append([]byte{comStmtPrepare}, q...)
				n = len(payload)
				hdr[0], hdr[1], hdr[2] = byte(n), byte(n>>8), byte(n>>16)
			}
		}
		c.pending = append(append(c.pending[:0], hdr[:]...), payload...)
	}
	k := copy(b, c.pending)
	c.pending = c.pending[k:]
	return k, nil
}

var errBadHandshake = errors.New("malformed handshake response")

// handshakeResponseSafe rejects the two malformed handshake responses that
// make the protocol layer's parser index out of range (it recovers, but
// logs a panic): a packet shorter than its fixed 32-byte head, and an auth
// response whose length-encoded size runs past the packet. Anything else is
// left to the parser, which rejects it cleanly.
func handshakeResponseSafe(p []byte) bool {
	const (
		protocol41    = 1 << 9
		lenencAuth    = 1 << 21
		fixedHeadSize = 4 + 4 + 1 + 23
	)
	if len(p) < 4 {
		return true // the parser reports "can't read client flags"
	}
	flags := binary.LittleEndian.Uint32(p)
	if flags&protocol41 == 0 {
		return true // rejected by the parser
	}
	if len(p) < fixedHeadSize {
		return len(p) < 9 // short of the charset byte the parser stops cleanly
	}
	end := bytes.IndexByte(p[fixedHeadSize:], 0)
	if end < 0 || flags&lenencAuth == 0 {
		return true
	}
	rest := p[fixedHeadSize+end+1:]
	size, n := lenencInt(rest)
	return n > 0 && size <= uint64(len(rest)-n)
}

// lenencInt decodes a MySQL length-encoded integer; n is 0 when truncated.
func lenencInt(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] {
	case 0xfc:
		if len(b) < 3 {
			return 0, 0
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3
	case 0xfd:
		if len(b) < 4 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case 0xfe:
		if len(b) < 9 {
			return 0, 0
		}
		return binary.LittleEndian.Uint64(b[1:]), 9
	case 0xfb, 0xff:
		return 0, 0
	}
	return uint64(b[0]), 1
}

// psStandIn returns the stand-in for a statement that must be prepared
// around the protocol parser. Statements with '?' placeholders are left
// alone: the stand-in has none, so their parameters could not be bound.
func psStandIn(q string) (string, bool) {
	if strings.Contains(q, "?") {
		return "", false
	}
	st, err := Classify(q)
	if err != nil {
		return "", false
	}
	switch st.Kind {
	case StmtBootstrap, StmtAddServer, StmtLoadModule, StmtUnsupported, StmtRewrite:
		if len(q) > maxPacket/2-64 {
			return "", false
		}
		return psMarker + hex.EncodeToString([]byte(q)) + "*/ SELECT 1", true
	}
	return "", false
}

// psOriginal undoes psStandIn.
func psOriginal(q string) string {
	if !strings.HasPrefix(q, psMarker) {
		return q
	}
	end := strings.Index(q, "*/")
	if end < 0 {
		return q
	}
	b, err := hex.DecodeString(q[len(psMarker):end])
	if err != nil {
		return q
	}
	return string(b)
}
