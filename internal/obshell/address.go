package obshell

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/obflow/obflow/internal/obcluster"
)

// DefaultAgentPort is obshell's agent port (DEFAULT_AGENT_PORT).
const DefaultAgentPort = 2886

// ParseAgentAddress parses an agent address "ip[:port]" ("[ipv6][:port]" or a bare IPv6 address)
// as a SERVER scope target. The port defaults to 2886. Errors are 400 Common.InvalidAddress
// (empty or malformed), Common.InvalidIp and Common.InvalidPort, as obshell's
// ConvertAddressToAgentInfo. Differences, all stricter: a bare IPv4 without a port is still
// checked to be an IP, and a bare IPv6 address never carries a port (write "[ip]:port"), where
// obshell's unanchored regular expression guesses. Valid ports are 1024..65535, as the message says.
func ParseAgentAddress(host string) (obcluster.Agent, error) {
	if host == "" {
		return obcluster.Agent{}, NewInvalidAddress(host)
	}
	if strings.Contains(host, ".") && !strings.HasPrefix(host, "[") {
		parts := strings.Split(host, ":")
		switch len(parts) {
		case 1:
			return ipv4Agent(parts[0], DefaultAgentPort)
		case 2:
			port, err := parseAgentPort(parts[1])
			if err != nil {
				return obcluster.Agent{}, err
			}
			return ipv4Agent(parts[0], port)
		default:
			return obcluster.Agent{}, NewInvalidAddress(host)
		}
	}
	ip, port := host, DefaultAgentPort
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return obcluster.Agent{}, NewInvalidAddress(host)
		}
		ip = host[1:end]
		switch rest := host[end+1:]; {
		case rest == "":
		case strings.HasPrefix(rest, ":"):
			p, err := parseAgentPort(rest[1:])
			if err != nil {
				return obcluster.Agent{}, err
			}
			port = p
		default:
			return obcluster.Agent{}, NewInvalidAddress(host)
		}
	}
	parsed := net.ParseIP(ip)
	if parsed == nil || parsed.To4() != nil || strings.Contains(ip, "%") {
		return obcluster.Agent{}, NewInvalidIP(ip)
	}
	return obcluster.Agent{IP: ip, Port: port}, nil
}

func ipv4Agent(ip string, port int) (obcluster.Agent, error) {
	parsed := net.ParseIP(ip)
	if parsed == nil || parsed.To4() == nil || strings.Contains(ip, ":") {
		return obcluster.Agent{}, NewInvalidIP(ip)
	}
	return obcluster.Agent{IP: ip, Port: port}, nil
}

func parseAgentPort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || !allDigits(s) || p < 1024 || p > 65535 {
		return 0, NewInvalidPort(s)
	}
	return p, nil
}

// Format upper-cases the scope type and removes duplicate targets, keeping the first occurrence
// (obshell's Scope.Format; its order is random, ours is stable).
func (s *Scope) Format() {
	s.Type = strings.ToUpper(s.Type)
	if len(s.Target) == 0 {
		return
	}
	seen := make(map[string]bool, len(s.Target))
	out := s.Target[:0:0]
	for _, t := range s.Target {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	s.Target = out
}

// ScopeChecker answers the existence questions of a scope's targets from the cluster registry.
type ScopeChecker interface {
	ZoneExists(ctx context.Context, zone string) (bool, error)
	AgentExists(ctx context.Context, agent obcluster.Agent) (bool, error)
}

// ValidateScope formats s and checks it as obshell's IsValidScope: GLOBAL is always valid; ZONE
// and SERVER need targets (400 Common.IllegalArgument "The input parameter 'target' is illegal:
// target is empty"); zones must exist (400 OB.Zone.NotExist); servers must parse
// (ParseAgentAddress) and exist (400 Agent.NotExist "Server '<target>' does not exist"); any other
// type is 400 OB.Cluster.Scope.Invalid. With a nil checker only the shape is checked.
func ValidateScope(ctx context.Context, s *Scope, checker ScopeChecker) error {
	s.Format()
	switch s.Type {
	case ScopeGlobal:
		return nil
	case ScopeZone:
		if len(s.Target) == 0 {
			return NewIllegalParameter("target", "target is empty")
		}
		for _, zone := range s.Target {
			if checker == nil {
				continue
			}
			ok, err := checker.ZoneExists(ctx, zone)
			if err != nil {
				return err
			}
			if !ok {
				return NewZoneNotExist(zone)
			}
		}
		return nil
	case ScopeServer:
		if len(s.Target) == 0 {
			return NewIllegalParameter("target", "target is empty")
		}
		for _, server := range s.Target {
			agent, err := ParseAgentAddress(server)
			if err != nil {
				return err
			}
			if checker == nil {
				continue
			}
			ok, err := checker.AgentExists(ctx, agent)
			if err != nil {
				return err
			}
			if !ok {
				return NewAgentNotExist(server)
			}
		}
		return nil
	default:
		return NewScopeInvalid(s.Type)
	}
}

// RsServer is one root server of an rsList: "ip:rpc_port:mysql_port" or "[ipv6]:rpc:mysql".
type RsServer struct {
	IP        string
	RPCPort   int
	MySQLPort int
}

// String renders the rsList element form.
func (r RsServer) String() string {
	ip := r.IP
	if strings.Contains(ip, ":") {
		ip = "[" + ip + "]"
	}
	return fmt.Sprintf("%s:%d:%d", ip, r.RPCPort, r.MySQLPort)
}

// ParseRsList parses "ip:rpc:mysql;ip:rpc:mysql;..." (IPv6 as "[ip]:rpc:mysql"). Errors are 400
// OB.Parameter.RsList.Invalid "rs_list '<list>' is invalid: <element>" (or "has empty rsServer"),
// as obshell's Integrate-config stage reports them. Membership in the cluster and the mysql port
// match are checked by the caller, which knows the cluster.
func ParseRsList(list string) ([]RsServer, error) {
	var out []RsServer
	for _, elem := range strings.Split(list, ";") {
		if elem == "" {
			return nil, NewRsListInvalid(list, "has empty rsServer")
		}
		var ip string
		var ports []string
		if elem[0] == '[' {
			inner, rest, ok := strings.Cut(elem[1:], "]")
			if !ok || strings.Contains(rest, "]") || !strings.HasPrefix(rest, ":") {
				return nil, NewRsListInvalid(list, elem)
			}
			ip, ports = inner, strings.Split(rest[1:], ":")
			if p := net.ParseIP(ip); p == nil || p.To4() != nil {
				return nil, NewRsListInvalid(list, elem)
			}
		} else {
			parts := strings.Split(elem, ":")
			if len(parts) != 3 {
				return nil, NewRsListInvalid(list, elem)
			}
			ip, ports = parts[0], parts[1:]
			if p := net.ParseIP(ip); p == nil || p.To4() == nil {
				return nil, NewRsListInvalid(list, elem)
			}
		}
		if len(ports) != 2 {
			return nil, NewRsListInvalid(list, elem)
		}
		rpc, err1 := strconv.Atoi(ports[0])
		mysql, err2 := strconv.Atoi(ports[1])
		if err1 != nil || err2 != nil || !validPort(rpc) || !validPort(mysql) ||
			!allDigits(ports[0]) || !allDigits(ports[1]) {
			return nil, NewRsListInvalid(list, elem)
		}
		out = append(out, RsServer{IP: ip, RPCPort: rpc, MySQLPort: mysql})
	}
	return out, nil
}

func validPort(p int) bool { return p >= 1 && p <= 65535 }
