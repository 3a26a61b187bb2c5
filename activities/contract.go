package activities

import (
	"github.com/obflow/obflow/internal/obcluster"
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
	Master   obcluster.Agent          `json:"master"`
	Hosts    []obcluster.Host         `json:"hosts"`
	Cluster  obcluster.ClusterConfig  `json:"cluster"`
	Observer obcluster.ObserverConfig `json:"observer"`
}

// IntegrateConfigResult is the cluster plan every later stage reads.
type IntegrateConfigResult struct {
	Result
	Servers []obcluster.ServerPlan            `json:"servers"` // in Hosts order
	Zones   []string                          `json:"zones"`   // bootstrap order: master's zone first
	ZoneRS  map[string]obcluster.ServerAddr   `json:"zoneRS"`
	UnRS    map[string][]obcluster.ServerAddr `json:"unRS"`
}

// WorkdirInput is the input of "Create observer workdir" and "Destroy observer workdir".
type WorkdirInput struct {
	// Agent is the host the stage is meant for; a host worker refuses work
	// for another agent. Optional: when zero only Dirs.HomePath is checked.
	Agent obcluster.Agent `json:"agent,omitempty"`
	Dirs  obcluster.Dirs  `json:"dirs"`
}

// StartObserverInput is the input of "Start observer" and "Stop observer".
type StartObserverInput struct {
	Server      obcluster.ServerPlan `json:"server"`
	HealthCheck bool                 `json:"healthCheck"`
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
	Master          obcluster.Agent       `json:"master"`
	RootPassword    string                `json:"rootPassword,omitempty"`
	ProxyroPassword string                `json:"proxyroPassword,omitempty"`
	Tenant          string                `json:"tenant,omitempty"`
}

// SyncAgentInput is the input of "Synchronize agent from cluster", run on each host.
type SyncAgentInput struct {
	Server       obcluster.ServerPlan `json:"server"`
	Master       obcluster.Agent      `json:"master"`
	RootPassword string               `json:"rootPassword,omitempty"`
}

// SyncAgentResult is what a host learned from the cluster.
type SyncAgentResult struct {
	Result
	Identity obcluster.Identity `json:"identity"` // the host's row in ocs.all_agent
}
