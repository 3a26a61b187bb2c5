package obcluster

import (
	"net"
	"strconv"
	"strings"
)

// obshell's default ports.
const (
	DefaultMySQLPort = 2881
	DefaultRPCPort   = 2882
	DefaultAgentPort = 2886
)

// SysTenant is the tenant every init stage works in.
const SysTenant = "sys"

// Agent is an obshell agent's address, {"ip","port"} on the wire
// (obshell's AgentInfo).
type Agent struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

// String renders "ip:port", or "[ip]:port" for IPv6, like obshell's AgentInfo.String.
func (a Agent) String() string { return net.JoinHostPort(a.IP, strconv.Itoa(a.Port)) }

// IsIPv6 reports whether IP is an IPv6 address (obshell: it contains a colon).
func (a Agent) IsIPv6() bool { return strings.Contains(a.IP, ":") }

// Identity is an agent's identity as /api/v1/info reports it.
type Identity string

const (
	IdentityMaster           Identity = "MASTER"
	IdentityFollower         Identity = "FOLLOWER"
	IdentitySingle           Identity = "SINGLE"
	IdentityClusterAgent     Identity = "CLUSTER AGENT"
	IdentityTakeOverMaster   Identity = "TAKE OVER MASTER"
	IdentityTakeOverFollower Identity = "TAKE OVER FOLLOWER"
	IdentityScalingOut       Identity = "SCALING OUT"
	IdentityScalingIn        Identity = "SCALING IN"
	IdentityUnidentified     Identity = "UNIDENTIFIED"
)

// Host is one member of the cluster as joined: its agent, zone and observer home.
type Host struct {
	Agent    Agent  `json:"agent"`
	Zone     string `json:"zone"`
	HomePath string `json:"homePath"`
}

// AgentRecord is one agent as the cluster registry knows it (obshell's
// all_agent row plus what /api/v1/info reports).
type AgentRecord struct {
	Agent
	Zone string `json:"zone,omitempty"`
	// Identity is "" while a join is half-way (reported as SINGLE).
	Identity  Identity `json:"identity,omitempty"`
	Version   string   `json:"version,omitempty"`
	OBVersion string   `json:"obVersion,omitempty"`
	HomePath  string   `json:"homePath,omitempty"`
	PublicKey string   `json:"publicKey,omitempty"`
}

// EffectiveIdentity is the identity the agent reports: SINGLE while it is
// not (yet) a member.
func (r AgentRecord) EffectiveIdentity() Identity {
	if r.Identity == "" {
		return IdentitySingle
	}
	return r.Identity
}
