package obshell

import (
	"time"

	"github.com/obflow/obflow/internal/obcluster"
)

// Web server states of AgentStatus.State (ob/agent/constant/http.go).
const (
	ServiceStateUnknown  int32 = 0
	ServiceStateStarting int32 = 1
	ServiceStateRunning  int32 = 2
	ServiceStateStopping int32 = 3
	ServiceStateStopped  int32 = 4
)

// obState values of /api/v1/status.
const (
	OBStateProcessNotExist = 0 // observer process not running
	OBStateNoConnection    = 1 // running, no connection
	OBStateRestricted      = 2 // only SELECT 1 works
	OBStateAvailable       = 3
)

// AuthV2 is the only value of supportedAuth that obflow advertises.
const AuthV2 = "v2"

// AgentStatus is the data of GET /api/v1/info (meta.AgentStatus). Field order follows obshell's
// JSON output.
type AgentStatus struct {
	Pid            int                `json:"pid"`
	State          int32              `json:"state"`
	StartAt        int64              `json:"startAt"`
	HomePath       string             `json:"homePath"`
	OBVersion      string             `json:"obVersion"`
	Architecture   string             `json:"architecture"`
	IP             string             `json:"ip"`
	Port           int                `json:"port"`
	Zone           string             `json:"zone"`
	Identity       obcluster.Identity `json:"identity"`
	Version        string             `json:"version"`
	IsObproxyAgent bool               `json:"isObproxyAgent"`
	Security       bool               `json:"security"`
	SupportedAuth  []string           `json:"supportedAuth"`
}

// AgentInfoWithIdentity is {"ip","port","identity"}.
type AgentInfoWithIdentity struct {
	IP       string             `json:"ip"`
	Port     int                `json:"port"`
	Identity obcluster.Identity `json:"identity"`
}

// AgentInstance is {"ip","port","zone","identity","version"}.
type AgentInstance struct {
	IP       string             `json:"ip"`
	Port     int                `json:"port"`
	Zone     string             `json:"zone"`
	Identity obcluster.Identity `json:"identity"`
	Version  string             `json:"version"`
}

// ServerStatus is the data of GET|POST /api/v1/status (lib/http.AgentStatus).
type ServerStatus struct {
	Agent            AgentInfoWithIdentity `json:"agent"`
	State            int32                 `json:"state"`
	Version          string                `json:"version"`
	Pid              int                   `json:"pid"`
	StartAt          int64                 `json:"startAt"`
	Port             int                   `json:"port"`
	OBState          int                   `json:"obState"`
	SQLPort          int                   `json:"sqlPort,omitempty"`
	UnderMaintenance bool                  `json:"underMaintenance"`
}

// AgentSecret is the data of GET /api/v1/secret: public_key is base64 of the DER PKCS#1 key.
type AgentSecret struct {
	IP        string `json:"ip"`
	Port      int    `json:"port"`
	PublicKey string `json:"public_key"`
}

// TaskStatusDTO is embedded in the DAG, node and sub-task DTOs. Times are written RFC3339 with
// the server's offset: give them in time.Local (LocalTime) to match obshell.
type TaskStatusDTO struct {
	State     obcluster.State    `json:"state"`
	Operator  obcluster.Operator `json:"operator"`
	StartTime time.Time          `json:"start_time"`
	EndTime   time.Time          `json:"end_time"`
}

// SDK predicates (sdk-go model/task.go).
func (t TaskStatusDTO) IsSucceed() bool  { return t.State == obcluster.StateSucceed }
func (t TaskStatusDTO) IsFailed() bool   { return t.State == obcluster.StateFailed }
func (t TaskStatusDTO) IsFinished() bool { return t.IsSucceed() || t.IsFailed() }
func (t TaskStatusDTO) IsRunning() bool  { return t.State == obcluster.StateRunning }
func (t TaskStatusDTO) IsPending() bool  { return t.State == obcluster.StatePending }
func (t TaskStatusDTO) IsReady() bool    { return t.State == obcluster.StateReady }
func (t TaskStatusDTO) IsRun() bool      { return t.Operator == obcluster.OperatorRun }
func (t TaskStatusDTO) IsRetry() bool    { return t.Operator == obcluster.OperatorRetry }
func (t TaskStatusDTO) IsRollback() bool { return t.Operator == obcluster.OperatorRollback }
func (t TaskStatusDTO) IsCancel() bool   { return t.Operator == obcluster.OperatorCancel }
func (t TaskStatusDTO) IsPass() bool     { return t.Operator == obcluster.OperatorPass }

// LocalTime converts t to the server's zone, which is how obshell writes DTO times.
func LocalTime(t time.Time) time.Time { return t.In(time.Local) }

// DagDetailDTO is GET /api/v1/task/dag/:id. additional_data is null when AdditionalData is nil
// and {} when it is an empty non-nil map; nodes is null when Nodes is nil.
type DagDetailDTO struct {
	GenericID       string                    `json:"id"`
	DagID           int64                     `json:"dag_id"`
	Name            string                    `json:"name"`
	Stage           int                       `json:"stage"`
	MaxStage        int                       `json:"max_stage"`
	MaintenanceType obcluster.MaintenanceType `json:"maintenance_type"`
	MaintenanceKey  string                    `json:"maintenance_key"`
	TaskStatusDTO
	AdditionalData map[string]any   `json:"additional_data"`
	Nodes          []*NodeDetailDTO `json:"nodes"`
}

// NodeDetailDTO is one node (stage) of a DAG.
type NodeDetailDTO struct {
	GenericID string `json:"id"`
	NodeID    int64  `json:"node_id"`
	Name      string `json:"name"`
	TaskStatusDTO
	AdditionalData map[string]any   `json:"additional_data"`
	SubTasks       []*TaskDetailDTO `json:"sub_tasks"`
}

// TaskDetailDTO is one sub-task: one execution of a node's task on one agent.
type TaskDetailDTO struct {
	GenericID string `json:"id"`
	TaskID    int64  `json:"task_id"`
	Name      string `json:"name"`
	TaskStatusDTO
	AdditionalData map[string]any  `json:"additional_data"`
	ExecuteTimes   int             `json:"execute_times"`
	ExecuteAgent   obcluster.Agent `json:"execute_agent"`
	TaskLogs       []string        `json:"task_logs"`
}

// SubTaskLogDTO is one element of GET /api/v1/task/sub_task/:id/logs.
type SubTaskLogDTO struct {
	ID           int64     `json:"id"`
	SubTaskID    int64     `json:"sub_task_id"`
	ExecuteTimes int       `json:"execute_times"`
	LogContent   string    `json:"log_content"`
	IsSync       bool      `json:"is_sync"`
	CreateTime   time.Time `json:"create_time"`
	UpdateTime   time.Time `json:"update_time"`
}

// ExecuteErrorLog is the last log line of a failed execution: "ERROR: [<errCode>]: <message>".
func ExecuteErrorLog(errCode, message string) string {
	return "ERROR: [" + errCode + "]: " + message
}
