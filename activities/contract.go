package activities

import (
	"net"
	"strconv"
)

// Activity type names. Each equals obshell's task name for its stage, so
// the Temporal Web UI shows the same words as obshell's DAG views. The
// rollback activities carry the names of the DAGs obshell runs on a remote
// agent to undo a stage.
const (
	IntegrateConfigName  = "Integrate config"
	CreateWorkdirName    = "Create observer workdir"
	DestroyWorkdirName   = "Destroy observer workdir"
	StartObserverName    = "Start observer"
	StopObserverName     = "Stop observer"
	ClusterBootstrapName = "Cluster boostrap" // [sic], as obshell spells it
	MigrateTableName     = "Migrate table"
	ModifyPasswordName   = "Modify password"
	CreateUserName       = "Create user"
	MigrateDataName      = "Migrate data"
	ConvertFollowerName  = "Convert follower to cluster agent"
	SyncAgentName        = "Synchronize agent from cluster"
	ConvertMasterName    = "Convert master to cluster agent"
	ImportScriptName     = "Import script for tenant"
)

// obshell's defaults (spec §6.2).
const (
	DefaultMySQLPort = 2881
	DefaultRPCPort   = 2882
	DefaultAgentPort = 2886
	SysTenant        = "sys"
)

// Agent is an obshell agent's address.
type Agent struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

// String returns "ip:port" ("[ip]:port" for IPv6).
func (a Agent) String() string { return net.JoinHostPort(a.IP, strconv.Itoa(a.Port)) }

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

// ConfigValue is one observer config value with the registry revision at
// which it was written; obshell's merge lets the most recently written
// value win across scopes (spec §6.2, Integrate config).
type ConfigValue struct {
	Value    string `json:"value"`
	Revision int64  `json:"revision"`
}

// ObserverConfig is the observer configuration as stored by
// `POST /api/v1/observer/config`, by scope.
type ObserverConfig struct {
	Global map[string]ConfigValue            `json:"global,omitempty"`
	Zone   map[string]map[string]ConfigValue `json:"zone,omitempty"`   // zone -> key -> value
	Server map[string]map[string]ConfigValue `json:"server,omitempty"` // agent "ip:port" -> key -> value
}

// ClusterConfig is what `POST /api/v1/obcluster/config` stored.
type ClusterConfig struct {
	Name   string `json:"cluster"`
	ID     int64  `json:"clusterId"`
	RsList string `json:"rsList,omitempty"`
}

// ServerAddr is an observer's RPC address, as named in BOOTSTRAP and ADD SERVER.
type ServerAddr struct {
	IP      string `json:"ip"`
	RPCPort int    `json:"rpcPort"`
}

// Dirs are the observer directories of one host (spec §6.2, fillDir).
type Dirs struct {
	HomePath string `json:"homePath"`
	DataDir  string `json:"data_dir"`
	RedoDir  string `json:"redo_dir"`
	ClogDir  string `json:"clog_dir"`
	SlogDir  string `json:"slog_dir"`
}

// ServerPlan is the resolved plan of one host after "Integrate config".
type ServerPlan struct {
	Host      Host              `json:"host"`
	Dirs      Dirs              `json:"dirs"`
	Config    map[string]string `json:"config"` // start options: cluster, cluster_id, zone, ports, ... (no dirs, no rootPwd)
	MySQLPort int               `json:"mysqlPort"`
	RPCPort   int               `json:"rpcPort"`
}

// Result is embedded in every activity result: the sub-task's log lines,
// which the API serves as obshell's task_logs. A failed activity returns an
// ApplicationError whose type is obshell's errCode and whose first detail
// is the log lines written before the failure; a running one heartbeats its
// log lines so far.
type Result struct {
	Logs []string `json:"logs,omitempty"`
}

// IntegrateConfigInput is the input of "Integrate config".
type IntegrateConfigInput struct {
	Master   Agent          `json:"master"`
	Hosts    []Host         `json:"hosts"`
	Cluster  ClusterConfig  `json:"cluster"`
	Observer ObserverConfig `json:"observer"`
}

// IntegrateConfigResult is the cluster plan every later stage reads.
type IntegrateConfigResult struct {
	Result
	Servers []ServerPlan            `json:"servers"` // in Hosts order
	Zones   []string                `json:"zones"`   // bootstrap order: master's zone first
	ZoneRS  map[string]ServerAddr   `json:"zoneRS"`
	UnRS    map[string][]ServerAddr `json:"unRS"`
}

// WorkdirInput is the input of "Create observer workdir" and "Destroy observer workdir".
type WorkdirInput struct {
	// Agent is the host the stage is meant for; a host worker refuses work
	// for another agent. Optional: when zero only Dirs.HomePath is checked.
	Agent Agent `json:"agent,omitempty"`
	Dirs  Dirs  `json:"dirs"`
}

// StartObserverInput is the input of "Start observer" and "Stop observer".
type StartObserverInput struct {
	Server      ServerPlan `json:"server"`
	HealthCheck bool       `json:"healthCheck"`
}

// StartObserverResult reports the running observer.
type StartObserverResult struct {
	Result
	PID       int `json:"pid"`
	MySQLPort int `json:"mysqlPort"`
	RPCPort   int `json:"rpcPort"`
}

// ClusterInput is the input of every cluster-level SQL stage. The
// coordinator reaches the master's observer at Master's IP and MySQL port.
// RootPassword is a secret: it travels only inside payloads the codec
// encrypts.
type ClusterInput struct {
	Plan            IntegrateConfigResult `json:"plan"`
	Master          Agent                 `json:"master"`
	RootPassword    string                `json:"rootPassword,omitempty"`
	ProxyroPassword string                `json:"proxyroPassword,omitempty"`
	Tenant          string                `json:"tenant,omitempty"`
}

// SyncAgentInput is the input of "Synchronize agent from cluster", run on each host.
type SyncAgentInput struct {
	Server       ServerPlan `json:"server"`
	Master       Agent      `json:"master"`
	RootPassword string     `json:"rootPassword,omitempty"`
}

// SyncAgentResult is what a host learned from the cluster.
type SyncAgentResult struct {
	Result
	Identity string `json:"identity"` // the host's row in ocs.all_agent
}
