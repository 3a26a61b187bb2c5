package obshell

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"strconv"

	"github.com/obflow/obflow/internal/obcluster"
)

// Generic-id prefixes (CONTRACT.md §8.1).
const (
	PrefixCluster      byte = '1' // cluster task: "1" + id
	PrefixLocalIPv4    byte = '2' // agent-local task: "2" + %010d(IPv4) + %05d(port) + id
	PrefixLocalIPv6    byte = '3' // agent-local task: "3" + %039d(IPv6) + %05d(port) + id
	PrefixObproxyIPv4  byte = '4'
	PrefixObproxyIPv6  byte = '5'
	ipv4Digits              = 10
	ipv6Digits              = 39
	portDigits              = 5
	minClusterIDLength      = 2                               // > 1 char
	minIPv4IDLength         = 1 + ipv4Digits + portDigits + 1 // > 16 chars
	minIPv6IDLength         = 1 + ipv6Digits + portDigits + 1 // > 45 chars
)

// GenericID is a decoded generic id: the kind (prefix), the agent that stores the task (nil for
// cluster tasks) and the row id.
type GenericID struct {
	Prefix byte
	Agent  *obcluster.Agent
	ID     int64
}

// IsLocal reports whether the id names an agent-local task (prefix 2 or 3).
func (g GenericID) IsLocal() bool { return g.Prefix == PrefixLocalIPv4 || g.Prefix == PrefixLocalIPv6 }

// IsObproxy reports whether the id names an obproxy task (prefix 4 or 5).
func (g GenericID) IsObproxy() bool {
	return g.Prefix == PrefixObproxyIPv4 || g.Prefix == PrefixObproxyIPv6
}

// String encodes the id. An id that cannot be encoded (bad prefix, agent or port) renders as "".
func (g GenericID) String() string {
	s, err := g.encode()
	if err != nil {
		return ""
	}
	return s
}

// WithID returns the same kind and agent with another row id (e.g. a node id derived from a DAG).
func (g GenericID) WithID(id int64) GenericID {
	g.ID = id
	return g
}

func (g GenericID) encode() (string, error) {
	if g.ID < 0 {
		return "", fmt.Errorf("negative id %d", g.ID)
	}
	if g.Prefix == PrefixCluster {
		return fmt.Sprintf("1%d", g.ID), nil
	}
	if g.Agent == nil {
		return "", errors.New("agent-local id without agent")
	}
	if g.Agent.Port < 0 || g.Agent.Port > 65535 {
		return "", fmt.Errorf("port %d out of range", g.Agent.Port)
	}
	ip := net.ParseIP(g.Agent.IP)
	if ip == nil {
		return "", fmt.Errorf("%q is not an IP address", g.Agent.IP)
	}
	switch g.Prefix {
	case PrefixLocalIPv4, PrefixObproxyIPv4:
		v4 := ip.To4()
		if v4 == nil {
			return "", fmt.Errorf("%q is not an IPv4 address", g.Agent.IP)
		}
		return fmt.Sprintf("%c%010d%05d%d", g.Prefix, new(big.Int).SetBytes(v4), g.Agent.Port, g.ID), nil
	case PrefixLocalIPv6, PrefixObproxyIPv6:
		return fmt.Sprintf("%c%039d%05d%d", g.Prefix, new(big.Int).SetBytes(ip.To16()), g.Agent.Port, g.ID), nil
	}
	return "", fmt.Errorf("invalid prefix %q", g.Prefix)
}

// LocalGenericID returns the agent-local generic id of row id stored by agent: prefix 2 for an
// IPv4 agent, 3 for IPv6. Example: 10.0.0.1:2886, id 3 → "20167772161028863".
func LocalGenericID(agent obcluster.Agent, id int64) (GenericID, error) {
	ip := net.ParseIP(agent.IP)
	if ip == nil {
		return GenericID{}, NewInvalidIP(agent.IP)
	}
	if agent.Port < 0 || agent.Port > 65535 || id < 0 {
		return GenericID{}, NewInvalidAddress(agent.String())
	}
	p := PrefixLocalIPv6
	// obshell decides by the parsed address: an IPv4-mapped IPv6 address counts as IPv4.
	if ip.To4() != nil {
		p = PrefixLocalIPv4
	}
	a := agent
	return GenericID{Prefix: p, Agent: &a, ID: id}, nil
}

// EncodeLocalID is LocalGenericID(...).String() with the error.
func EncodeLocalID(agent obcluster.Agent, id int64) (string, error) {
	g, err := LocalGenericID(agent, id)
	if err != nil {
		return "", err
	}
	return g.encode()
}

// EncodeClusterID returns "1" + id.
func EncodeClusterID(id int64) string { return fmt.Sprintf("1%d", id) }

// ParseGenericID decodes a generic id. Every failure is 400 Task.GenericID.Invalid with obshell's
// messages: "Invalid ID: <id>" for a short id, and "Invalid ID: <id>: <reason>" with reasons
// "invalid generic id", "convert id to bigInt failed", "convert id to ip failed", "parse port
// failed" or the strconv.ParseInt error of the row id.
//
// It is stricter than obshell where obshell would accept garbage or panic: only ASCII digits are
// accepted, the empty string is an error, the port must be ≤ 65535, and addresses with leading
// zero bytes (0.x.y.z, ::1) decode correctly instead of failing.
func ParseGenericID(s string) (GenericID, error) {
	if s == "" {
		return GenericID{}, NewGenericIDInvalid(s)
	}
	var ipDigits int
	switch p := s[0]; p {
	case PrefixCluster:
		if len(s) < minClusterIDLength {
			return GenericID{}, NewGenericIDInvalid(s)
		}
	case PrefixLocalIPv4, PrefixObproxyIPv4:
		if len(s) < minIPv4IDLength {
			return GenericID{}, NewGenericIDInvalid(s)
		}
		ipDigits = ipv4Digits
	case PrefixLocalIPv6, PrefixObproxyIPv6:
		if len(s) < minIPv6IDLength {
			return GenericID{}, NewGenericIDInvalid(s)
		}
		ipDigits = ipv6Digits
	default:
		return GenericID{}, NewWithMessage("invalid generic id", CodeTaskGenericIDInvalid, s)
	}

	g := GenericID{Prefix: s[0]}
	idStart := 1
	if ipDigits > 0 {
		ipPart := s[1 : 1+ipDigits]
		portPart := s[1+ipDigits : 1+ipDigits+portDigits]
		idStart = 1 + ipDigits + portDigits
		if !allDigits(ipPart) {
			return GenericID{}, NewWithMessage("convert id to bigInt failed", CodeTaskGenericIDInvalid, s)
		}
		n, _ := new(big.Int).SetString(ipPart, 10)
		size := net.IPv4len
		if ipDigits == ipv6Digits {
			size = net.IPv6len
		}
		if n.BitLen() > size*8 {
			return GenericID{}, NewWithMessage("convert id to ip failed", CodeTaskGenericIDInvalid, s)
		}
		ip := net.IP(n.FillBytes(make([]byte, size)))
		port, err := strconv.Atoi(portPart)
		if err != nil || !allDigits(portPart) || port > 65535 {
			return GenericID{}, NewWithMessage("parse port failed", CodeTaskGenericIDInvalid, s)
		}
		g.Agent = &obcluster.Agent{IP: ip.String(), Port: port}
	}

	idPart := s[idStart:]
	if !allDigits(idPart) {
		return GenericID{}, WrapRetain(CodeTaskGenericIDInvalid,
			&strconv.NumError{Func: "ParseInt", Num: idPart, Err: strconv.ErrSyntax}, s)
	}
	id, err := strconv.ParseInt(idPart, 10, 64)
	if err != nil {
		return GenericID{}, WrapRetain(CodeTaskGenericIDInvalid, err, s)
	}
	g.ID = id
	return g, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Node and sub-task ids are derived from the DAG id so that /task/node/:id and
// /task/sub_task/:id resolve to the DAG's workflow with no lookup table:
//
//	node id     = dagID*NodeIDFactor + stage          (stage 1..MaxStages)
//	sub-task id = nodeID*SubTaskIDFactor + hostIndex  (hostIndex 0..MaxHostsPerStage-1)
//
// hostIndex is the position of the target host in the stage's ordered host list (the plan fixes
// it). The generic id of a node or sub-task uses the DAG's prefix and agent with the derived row
// id. DAG ids must be in 1..MaxDagID so that every derived id fits in an int64.
const (
	NodeIDFactor     = 100
	SubTaskIDFactor  = 1000
	MaxStages        = NodeIDFactor - 1
	MaxHostsPerStage = SubTaskIDFactor
	MaxDagID         = math.MaxInt64/(NodeIDFactor*SubTaskIDFactor) - 1
)

// NodeID derives the node id of a DAG's stage (1-based).
func NodeID(dagID int64, stage int) (int64, error) {
	if dagID < 1 || dagID > MaxDagID {
		return 0, fmt.Errorf("dag id %d out of range [1, %d]", dagID, int64(MaxDagID))
	}
	if stage < 1 || stage > MaxStages {
		return 0, fmt.Errorf("stage %d out of range [1, %d]", stage, MaxStages)
	}
	return dagID*NodeIDFactor + int64(stage), nil
}

// SubTaskID derives the sub-task id of host hostIndex (0-based) in a DAG's stage.
func SubTaskID(dagID int64, stage, hostIndex int) (int64, error) {
	n, err := NodeID(dagID, stage)
	if err != nil {
		return 0, err
	}
	if hostIndex < 0 || hostIndex >= MaxHostsPerStage {
		return 0, fmt.Errorf("host index %d out of range [0, %d]", hostIndex, MaxHostsPerStage-1)
	}
	return n*SubTaskIDFactor + int64(hostIndex), nil
}

// SplitNodeID inverts NodeID. ok is false for ids no DAG can have (the API answers 404
// Task.NotFound for them).
func SplitNodeID(nodeID int64) (dagID int64, stage int, ok bool) {
	dagID, stage = nodeID/NodeIDFactor, int(nodeID%NodeIDFactor)
	if dagID < 1 || dagID > MaxDagID || stage < 1 {
		return 0, 0, false
	}
	return dagID, stage, true
}

// SplitSubTaskID inverts SubTaskID.
func SplitSubTaskID(subTaskID int64) (dagID int64, stage, hostIndex int, ok bool) {
	if subTaskID < 0 {
		return 0, 0, 0, false
	}
	dagID, stage, ok = SplitNodeID(subTaskID / SubTaskIDFactor)
	if !ok {
		return 0, 0, 0, false
	}
	return dagID, stage, int(subTaskID % SubTaskIDFactor), true
}
