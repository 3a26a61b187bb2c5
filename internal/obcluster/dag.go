package obcluster

import (
	"fmt"
	"strings"
)

// State is a DAG, node or sub-task state. The zero value is not a valid
// state. It travels as its name ("FAILED"), in obshell's DTOs and in
// Temporal payloads alike.
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

// MarshalText encodes the state's name.
func (s State) MarshalText() ([]byte, error) {
	if n := s.String(); n != "" || s == 0 {
		return []byte(n), nil
	}
	return nil, fmt.Errorf("unknown DAG state %d", int(s))
}

// UnmarshalText decodes a state name; "" is the zero State.
func (s *State) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*s = 0
		return nil
	}
	v, ok := ParseState(string(b))
	if !ok {
		return fmt.Errorf("unknown DAG state %q", b)
	}
	*s = v
	return nil
}

// Operator is a DAG operator. Its name is also the Temporal Update that
// applies it to a DAG workflow.
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

// MarshalText encodes the operator's name.
func (o Operator) MarshalText() ([]byte, error) {
	if n := o.String(); n != "" || o == 0 {
		return []byte(n), nil
	}
	return nil, fmt.Errorf("unknown DAG operator %d", int(o))
}

// UnmarshalText decodes an operator name; "" is the zero Operator.
func (o *Operator) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*o = 0
		return nil
	}
	v, ok := ParseOperator(string(b))
	if !ok {
		return fmt.Errorf("unknown DAG operator %q", b)
	}
	*o = v
	return nil
}

// MaintenanceType is what a DAG holds while it runs (DagDetailDTO.maintenance_type).
type MaintenanceType int

const (
	MaintenanceNotBootstrap        MaintenanceType = 0
	MaintenanceNotUnderMaintenance MaintenanceType = 1
	MaintenanceGlobal              MaintenanceType = 2 // init, join and config DAGs
	MaintenanceTenant              MaintenanceType = 3
	MaintenanceObproxy             MaintenanceType = 4
)
