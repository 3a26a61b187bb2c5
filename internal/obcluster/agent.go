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
	// What the agent reported when it joined (its AgentRecord), which
	// "Migrate data" writes to its ocs.all_agent row as obshell does: the
	// version /api/v1/info reports, the host's OS and architecture in
	// obshell's names, and the base64 RSA public key of /api/v1/secret.
	Version      string `json:"version,omitempty"`
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	PublicKey    string `json:"publicKey,omitempty"`
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
	// OS and Architecture are the agent host's, in obshell's names
	// (runtime.GOOS; x86_64, aarch64): obshell's join carries them to the
	// master, whose all_agent table holds them.
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
}

// EffectiveIdentity is the identity the agent reports: SINGLE while it is
// not (yet) a member.
func (r AgentRecord) EffectiveIdentity() Identity {
	if r.Identity == "" {
		return IdentitySingle
	}
	return r.Identity
}

// Architecture is the name obshell gives a Go architecture in
// /api/v1/info and ocs.all_agent: the package name for amd64 and arm64
// (x86_64, aarch64), the Go name otherwise.
func Architecture(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goarch
}
