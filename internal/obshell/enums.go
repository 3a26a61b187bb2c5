package obshell

import "strings"

// State is a task state (spec §5.3). The zero value is not a valid state.
type State int

const (
	StatePending State = 1
	StateReady   State = 2
	StateRunning State = 3
	StateFailed  State = 4
	StateSucceed State = 5
)

var stateNames = map[State]string{
	StatePending: "PENDING", StateReady: "READY", StateRunning: "RUNNING",
	StateFailed: "FAILED", StateSucceed: "SUCCEED",
}

// String gives obshell's name, or "" for an unknown value (obshell's STATE_MAP lookup).
func (s State) String() string { return stateNames[s] }

// ParseState maps a state name (exact, upper case as on the wire) to its value.
func ParseState(s string) (State, bool) {
	for k, v := range stateNames {
		if v == s {
			return k, true
		}
	}
	return 0, false
}

// Operator is a task operator (spec §5.3).
type Operator int

const (
	OperatorRun      Operator = 1
	OperatorRetry    Operator = 2
	OperatorRollback Operator = 3
	OperatorCancel   Operator = 4
	OperatorPass     Operator = 5
)

var operatorNames = map[Operator]string{
	OperatorRun: "RUN", OperatorRetry: "RETRY", OperatorRollback: "ROLLBACK",
	OperatorCancel: "CANCEL", OperatorPass: "PASS",
}

// String gives obshell's name, or "" for an unknown value.
func (o Operator) String() string { return operatorNames[o] }

// ParseOperator maps an operator name to its value, case-insensitively as obshell's
// POST /task/dag/:id does ("retry" and "RETRY" are the same operator).
func ParseOperator(s string) (Operator, bool) {
	u := strings.ToUpper(s)
	for k, v := range operatorNames {
		if v == u {
			return k, true
		}
	}
	return 0, false
}

// MaintenanceType is DagDetailDTO.maintenance_type (ob/agent/engine/task/maintenance_type.go).
type MaintenanceType int

const (
	MaintenanceNotBootstrap        MaintenanceType = 0
	MaintenanceNotUnderMaintenance MaintenanceType = 1
	MaintenanceGlobal              MaintenanceType = 2 // init, join and config DAGs
	MaintenanceTenant              MaintenanceType = 3
	MaintenanceObproxy             MaintenanceType = 4
)

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
