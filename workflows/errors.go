package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// obshell errCodes the engine itself produces (CONTRACT.md §4.4, §6.4). Operator
// rejections are returned by the Update validators; the others name
// sub-task failures the workflow detects itself (see SubTaskFailure).
const (
	ErrCodeRetryNotFailedDag     = "Task.Dag.Operator.RetryNotFailedDag"
	ErrCodeRetryNotAllowed       = "Task.Dag.Operator.RetryNotAllowed"
	ErrCodeRollbackNotFailedDag  = "Task.Dag.Operator.RollbackNotFailedDag"
	ErrCodeRollbackNotAllowed    = "Task.Dag.Operator.RollbackNotAllowed"
	ErrCodeCancelFinishedDag     = "Task.Dag.Operator.CancelFinishedDag"
	ErrCodeCancelNotAllowed      = "Task.Dag.Operator.CancelNotAllowed"
	ErrCodePassNotFailedDag      = "Task.Dag.Operator.PassNotFailedDag"
	ErrCodePassNotAllowed        = "Task.Dag.Operator.PassNotAllowed"
	ErrCodeNodePassNotFailedDag  = "Task.Node.Operator.PassNotFailedDag"
	ErrCodeNodePassNotFailedNode = "Task.Node.Operator.PassNotFailedNode"
	ErrCodeNodePassNotAllowed    = "Task.Node.Operator.PassNotAllowed"
	ErrCodeTaskNotFound          = "Task.NotFound"

	// ErrCodeAgentUnreachable: no worker of the host took the sub-task, or
	// the worker stopped heartbeating (obshell's code for a failed agent RPC).
	ErrCodeAgentUnreachable = "Agent.RPC.RequestError"
	// ErrCodeExecuteTimeout: the sub-task ran longer than its timeout.
	ErrCodeExecuteTimeout = "Task.Dag.ExecuteTimeout"
	// ErrCodeUnexpected: anything else.
	ErrCodeUnexpected = "Common.Unexpected"
)

// operatorError is a rejected operator: non-retryable, typed by errCode,
// with obshell's message.
func operatorError(code, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), code, nil)
}

// subTaskError carries the errCode and message of a failed sub-task.
type subTaskError struct {
	Code    string
	Message string
}

func (e *subTaskError) Error() string { return fmt.Sprintf("[%s]: %s", e.Code, e.Message) }

// SubTaskFailure is recorded in history (a SideEffect marker, see
// HISTORY.md) when the workflow, not the activity, decides why a sub-task
// failed: its agent was unreachable, it timed out, or its input or result
// was unusable. The translator uses it for the sub-task's last log line
// "ERROR: [<ErrCode>]: <Message>".
type SubTaskFailure struct {
	ActivityID string `json:"activityId"`
	ErrCode    string `json:"errCode"`
	Message    string `json:"message"`
}

// ErrorLogLine is obshell's last log line of a failed execution.
func ErrorLogLine(errCode, message string) string {
	return fmt.Sprintf("ERROR: [%s]: %s", errCode, message)
}
