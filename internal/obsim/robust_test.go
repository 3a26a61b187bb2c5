package obsim_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/obflow/obflow/internal/obsim"
)

func selectOne(t testing.TB, db *sql.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

// TestRobustness throws garbage, truncated handshakes, idle connections and
// a connect/close storm at one server, which must keep answering.
func TestRobustness(t *testing.T) {
	t.Parallel()
	h := newHost(t, "127.0.1.20", "zone1")
	h.start(t)
	addr := h.ip + ":2881"
	db := open(t, "root", "", h.ip, "")
	selectOne(t, db)
	// A logged-in connection held for the whole test must outlive the
	// handshake deadline.
	pinned, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	rng := rand.New(rand.NewSource(1))

	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	readGreeting := func(c net.Conn) []byte {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		hdr := make([]byte, 4)
		if _, err := io.ReadFull(c, hdr); err != nil {
			t.Fatalf("read greeting: %v", err)
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			t.Fatalf("read greeting: %v", err)
		}
		return body
	}

	// Garbage instead of a handshake response, of many sizes.
	for i := 0; i < 50; i++ {
		c := dial()
		readGreeting(c)
		junk := make([]byte, rng.Intn(300)+1)
		rng.Read(junk)
		_, _ = c.Write(junk)
		c.Close()
	}
	// Well-formed packet headers with garbage or truncated bodies.
	for i := 0; i < 50; i++ {
		c := dial()
		readGreeting(c)
		body := make([]byte, rng.Intn(64))
		rng.Read(body)
		claimed := len(body) + rng.Intn(3)*10 // sometimes claims more than it sends
		pkt := append([]byte{byte(claimed), byte(claimed >> 8), byte(claimed >> 16), 1}, body...)
		_, _ = c.Write(pkt)
		if i%2 == 0 {
			_ = c.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, c) // the server answers or closes, never hangs
		}
		c.Close()
	}
	// Logged in, then random commands: every command byte with random
	// arguments (bad statement ids, truncated COM_STMT_EXECUTE, ...).
	for i := 0; i < 40; i++ {
		c := dial()
		readGreeting(c)
		loginRaw(t, c)
		for j := 0; j < 8; j++ {
			body := make([]byte, 1+rng.Intn(40))
			rng.Read(body)
			body[0] = byte(rng.Intn(0x20)) // the command byte
			if body[0] == 0x01 {           // COM_QUIT would end the fun early
				body[0] = 0x03
			}
			pkt := append([]byte{byte(len(body)), 0, 0, 0}, body...)
			if _, err := c.Write(pkt); err != nil {
				break
			}
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
		}
		c.Close()
	}
	selectOne(t, db)

	// A huge claimed length, then silence: the handshake deadline frees it.
	big := dial()
	readGreeting(big)
	_, _ = big.Write([]byte{0xff, 0xff, 0xff, 1, 'x'})
	defer big.Close()
	selectOne(t, db)

	// 500 idle connections that never log in.
	var idle []net.Conn
	for i := 0; i < 500; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		idle = append(idle, c)
	}
	selectOne(t, open(t, "root", "", h.ip, ""))

	// Connect/close storm: raw connects and full logins, concurrently.
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err == nil {
					c.Close()
				}
				d, _ := sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/?timeout=10s", addr))
				if err := d.Ping(); err != nil {
					errs <- fmt.Errorf("storm login %d/%d: %w", g, i, err)
				}
				d.Close()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	selectOne(t, db)

	// The handshake deadline closes the idle connections.
	time.Sleep(time.Second)
	closed := 0
	deadline := time.Now().Add(15 * time.Second)
	for _, c := range idle {
		_ = c.SetReadDeadline(deadline)
		if _, err := io.Copy(io.Discard, c); err == nil { // EOF: the server closed it
			closed++
		}
		c.Close()
	}
	if closed != len(idle) {
		t.Errorf("%d of %d idle unauthenticated connections were closed by the server", closed, len(idle))
	}

	var one int
	if err := pinned.QueryRowContext(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Errorf("logged-in connection idle past the handshake timeout: %v", err)
	}
	if pid, err := h.pid(); err != nil || !obsim.ProcessAlive(pid) {
		t.Fatalf("observer died: %v", err)
	}
	// The protocol layer recovers a panic in a connection's goroutine, logs
	// it and closes that connection only. Panics in the simulator's own code
	// must not happen at all; the protocol library still has a few on
	// malformed commands after login (see README), which are only counted.
	log, err := os.ReadFile(obsim.LogPath(h.home))
	if err != nil {
		t.Fatal(err)
	}
	library := 0
	for _, line := range bytes.Split(log, []byte("\n")) {
		if !bytes.Contains(line, []byte("caught panic")) {
			continue
		}
		if bytes.Contains(line, []byte("obflow/obsim")) {
			t.Errorf("panic in the simulator: %s", line)
		} else {
			library++
		}
	}
	t.Logf("panics recovered in the protocol library: %d", library)
}

// loginRaw logs in as root with the empty password by hand (protocol 4.1
// handshake response), so the test can send raw commands afterwards.
func loginRaw(t *testing.T, c net.Conn) {
	t.Helper()
	const (
		clientLongPassword = 1
		clientProtocol41   = 1 << 9
		clientSecureConn   = 1 << 15
		clientPluginAuth   = 1 << 19
		clientTransactions = 1 << 13
		clientMultiResults = 1 << 17
	)
	caps := uint32(clientLongPassword | clientProtocol41 | clientSecureConn | clientPluginAuth | clientTransactions | clientMultiResults)
	body := []byte{byte(caps), byte(caps >> 8), byte(caps >> 16), byte(caps >> 24), 0, 0, 0, 1, 45}
	body = append(body, make([]byte, 23)...)
	body = append(body, "root\x00"...)
	body = append(body, 0) // empty auth response
	body = append(body, "mysql_native_password\x00"...)
	pkt := append([]byte{byte(len(body)), byte(len(body) >> 8), 0, 1}, body...)
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 4)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatalf("login reply: %v", err)
	}
	reply := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatalf("login reply: %v", err)
	}
	if len(reply) == 0 || reply[0] != 0 {
		t.Fatalf("login refused: %q", reply)
	}
}
