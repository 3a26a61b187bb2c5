package devserver

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
)

// PortInUseError reports a port the server needs that something else already
// holds. The Temporal server calls os.Exit when it cannot bind, so Start
// checks every fixed port first and returns this instead.
type PortInUseError struct {
	Name string // "frontend", "ui" or "codec"
	Addr string // host:port
	Err  error
}

func (e *PortInUseError) Error() string {
	_, port, _ := net.SplitHostPort(e.Addr)
	return fmt.Sprintf("%s port %s is already in use (%s): %v", e.Name, port, e.Addr, e.Err)
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// checkPortFree binds addr once and releases it.
func checkPortFree(name, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return &PortInUseError{Name: name, Addr: addr, Err: err}
	}
	return l.Close()
}

// FreePort returns a TCP port on ip that nothing listens on and that the
// kernel will not hand out again to another bind(":0") for a while.
//
// Plain "listen on :0 and close" races with every other process asking for
// an ephemeral port, and Temporal exits the process if a port it was told to
// use is taken. On Linux we therefore leave the port in TIME_WAIT: accept one
// connection and close it from the listening side. The kernel skips TIME_WAIT
// ports when picking ephemeral ports, while an explicit bind with
// SO_REUSEADDR (which Go and Temporal use) still succeeds.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find free port on %s: %w", ip, err)
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr)
	if runtime.GOOS == "linux" {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			return 0, fmt.Errorf("find free port on %s: %w", ip, err)
		}
		defer c.Close()
		s, err := l.Accept()
		if err != nil {
			return 0, fmt.Errorf("find free port on %s: %w", ip, err)
		}
		// The server side closes first, so it is the side left in TIME_WAIT.
		if err := s.Close(); err != nil {
			return 0, fmt.Errorf("find free port on %s: %w", ip, err)
		}
	}
	return addr.Port, nil
}

// freePorts returns n distinct free ports on ip.
func freePorts(ip string, n int) ([]int, error) {
	seen := map[int]bool{}
	var ports []int
	for len(ports) < n {
		p, err := FreePort(ip)
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// hostPort joins ip and port, bracketing IPv6 addresses.
func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// dialIP is the address other processes (and the server's own services) use
// to reach a listener bound on ip: loopback when bound on all interfaces.
func dialIP(ip string) string {
	parsed := net.ParseIP(ip)
	switch {
	case parsed == nil:
		return ip
	case parsed.Equal(net.IPv4zero):
		return "127.0.0.1"
	case parsed.Equal(net.IPv6unspecified):
		return "::1"
	}
	return ip
}

var errNoIP = errors.New("ip must be a literal IP address")
