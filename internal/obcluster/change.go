package obcluster

import "fmt"

// ChangeKind names what one agent-DAG stage writes to the cluster registry.
type ChangeKind string

// Kinds of registry change, one per agent-DAG stage.
const (
	ChangeJoinSelf       ChangeKind = "join-self"
	ChangeJoinMaster     ChangeKind = "join-master"
	ChangeBeFollower     ChangeKind = "be-follower"
	ChangeObserverConfig ChangeKind = "observer-config"
	ChangeClusterConfig  ChangeKind = "cluster-config"
	// ChangeAgentToSingle turns Agent into a SINGLE agent as seen by the
	// cluster (obshell's "Agent to single" on the follower): its record
	// stays, without identity, until ChangeRemoveFollower deletes it.
	ChangeAgentToSingle ChangeKind = "agent-to-single"
	// ChangeRemoveFollower deletes Agent's record and its observer config
	// (the zone's too when it was the zone's last agent), as the master's
	// "Remove follower agent" task does.
	ChangeRemoveFollower ChangeKind = "remove-follower"
	// ChangeRemoveMaster clears the configs, the root password and every
	// agent record: the master and every agent left become SINGLE.
	ChangeRemoveMaster ChangeKind = "remove-master"
)

// RegistryChange is what one agent-DAG stage writes to the registry. Every
// change is idempotent: applying it twice leaves the registry as applying
// it once, so an activity retried after a lost response is harmless.
type RegistryChange struct {
	Kind  ChangeKind  `json:"kind"`
	DagID string      `json:"dagId"` // generic id of the DAG, for logs
	Agent AgentRecord `json:"agent"` // the joining agent (join kinds)
	// Master is the master the agent joins (join-master, be-follower).
	Master Agent `json:"master,omitempty"`

	// Observer config: scope type GLOBAL, ZONE or SERVER, its targets
	// (zones or "ip:port"), and the keys to store with replace semantics.
	ScopeType string            `json:"scopeType,omitempty"`
	Targets   []string          `json:"targets,omitempty"`
	Config    map[string]string `json:"config,omitempty"`

	// Cluster config; RootPassword is a secret that only travels in
	// payloads the codec encrypts. Nil means "not sent".
	Cluster      *ClusterConfig `json:"cluster,omitempty"`
	RootPassword *string        `json:"rootPassword,omitempty"`
}

func (c RegistryChange) String() string { return fmt.Sprintf("%s(%s)", c.Kind, c.DagID) }
