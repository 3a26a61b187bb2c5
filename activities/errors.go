package activities

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"go.temporal.io/sdk/temporal"
)

// obshell error codes (CONTRACT.md §4.4) that the activities raise. The code is the
// ApplicationError's type, so the API can render `ERROR: [<code>]: <message>`
// and retry policies can name the codes they never retry.
const (
	ErrCommonUnexpected      = "Common.Unexpected"
	ErrCommonIllegalArgument = "Common.IllegalArgument"
	ErrCommonInvalidPort     = "Common.InvalidPort"
	ErrCommonDirNotEmpty     = "Common.DirNotEmpty"
	ErrRsListInvalid         = "OB.Parameter.RsList.Invalid"
	ErrProcessNotExist       = "OB.Server.Process.NotExist"
	ErrAsyncOperationTimeout = "OB.Cluster.AsyncOperationTimeout"
	ErrUserPasswordError     = "OB.User.Password.Error"
	ErrMySQL                 = "MySQL.Error"
	ErrDagExecuteTimeout     = "Task.Dag.ExecuteTimeout"
	ErrAgentNotExist         = "Agent.NotExist"
	// ErrEnvironmentWithoutPython: the Python fallback of "Import script for
	// tenant" found no python.
	ErrEnvironmentWithoutPython = "Environment.WithoutPython"
	// ErrWrongHost is raised by a host worker given work for another host.
	ErrWrongHost = "Agent.Identify.NotSupportOperation"
)

// NonRetryableCodes are the codes whose failures do not heal by themselves:
// configuration, content and identity errors. Workflows may put them in
// their retry policies' NonRetryableErrorTypes; the activities also mark
// such errors non-retryable themselves.
var NonRetryableCodes = []string{
	ErrCommonIllegalArgument,
	ErrCommonInvalidPort,
	ErrCommonDirNotEmpty,
	ErrRsListInvalid,
	ErrUserPasswordError,
	ErrDagExecuteTimeout,
	ErrWrongHost,
}

// logbook collects a sub-task's log lines (obshell's task_logs). It is safe
// for concurrent use because the heartbeat loop reads it while the activity
// writes.
type logbook struct {
	mu    sync.Mutex
	lines []string
}

func (l *logbook) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// Lines returns a copy of the lines so far.
func (l *logbook) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *logbook) result() Result { return Result{Logs: l.Lines()} }

// fail builds the ApplicationError of a failed sub-task: type = errCode,
// message = obshell's rendered message, details[0] = the log lines so far.
func (l *logbook) fail(code string, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return temporal.NewApplicationErrorWithOptions(msg, code, temporal.ApplicationErrorOptions{
		NonRetryable: isNonRetryable(code),
		Cause:        cause,
		Details:      []any{l.Lines()},
	})
}

// stop is fail for an error no retry can heal whatever its code (an
// observer that exits at start, a failed BOOTSTRAP): the DAG goes FAILED
// and waits for an operator, as obshell's does.
func (l *logbook) stop(code string, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return temporal.NewApplicationErrorWithOptions(msg, code, temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Cause:        cause,
		Details:      []any{l.Lines()},
	})
}

// retryable is fail for errors that are worth another attempt whatever
// their code (a connection refused while the observer is still coming up).
func (l *logbook) retryable(code string, cause error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return temporal.NewApplicationErrorWithOptions(msg, code, temporal.ApplicationErrorOptions{
		Cause:   cause,
		Details: []any{l.Lines()},
	})
}

// unexpected renders obshell's Common.Unexpected ("Unexpected error: %s").
func (l *logbook) unexpected(cause error, format string, args ...any) error {
	return l.fail(ErrCommonUnexpected, cause, "Unexpected error: "+format, args...)
}

// sqlError classifies a MySQL error the way obshell does: access denied is
// OB.User.Password.Error (never retried), any other server error is
// MySQL.Error, and anything else (network, context) is retryable.
func (l *logbook) sqlError(err error, what string) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		if me.Number == 1045 {
			return l.fail(ErrUserPasswordError, err, "%s: access denied: %s", what, me.Message)
		}
		return l.retryable(ErrMySQL, err, "MySQL error: %s: %s", what, me.Error())
	}
	return l.retryable(ErrCommonUnexpected, err, "Unexpected error: %s: %v", what, err)
}

func isNonRetryable(code string) bool {
	for _, c := range NonRetryableCodes {
		if c == code {
			return true
		}
	}
	return false
}

// isAccessDenied reports whether err is MySQL error 1045.
func isAccessDenied(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1045
}

// mysqlErrNumber returns the server error number of err, or 0.
func mysqlErrNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// shellQuote single-quotes s for /bin/bash the way obshell does
// (ob/utils/shell.go): every ' becomes '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
