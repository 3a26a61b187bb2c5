package obshell

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrorCode is one row of obshell's error table (ob/agent/errors/errorcode.go): the errCode string
// the clients see, the HTTP status it maps to, the legacy numeric code (0 = not emitted) and the
// English message template.
//
// Several rows may share one Code with different templates (obshell does this for
// Common.IllegalArgument and Task.NotFound); they compare equal through SameCode.
type ErrorCode struct {
	Code     string // errCode, e.g. "Task.GenericID.Invalid"
	Status   int    // HTTP status: 400, 401, 404 or 500
	OldCode  int    // legacy numeric code: 1, 10008 or 0
	Template string // fmt template of the English message
}

// SameCode reports whether two rows share the errCode string.
func (c ErrorCode) SameCode(o ErrorCode) bool { return c.Code == o.Code }

// Error is an obshell error: a code, its message arguments and optionally a cause.
//
// It mirrors obshell's OcsAgentError/OcsAgentErrorWrapper pair:
//   - the message is the template filled with the arguments, followed by ": <cause>" when there is
//     a cause;
//   - the code that the envelope reports (Code) may differ from the code whose template produced
//     the message (see WrapRetain and Wrap).
//
// Use errors.As(err, &*obshell.Error) to recover it from a wrapped chain.
type Error struct {
	code     ErrorCode // reported code (status, errCode, legacy code)
	template ErrorCode // code whose template renders the message; Template "%s" for Wrap
	args     []any
	cause    error
	raw      string // a verbatim message (FromWire); overrides template rendering
	hasRaw   bool
}

// New returns an error with the code and the template's arguments (obshell's errors.Occur).
func New(code ErrorCode, args ...any) *Error {
	return &Error{code: code, template: code, args: args}
}

// NewWithMessage returns an error whose message is the template followed by ": message"
// (obshell's errors.OccurWithMessage).
func NewWithMessage(message string, code ErrorCode, args ...any) *Error {
	return &Error{code: code, template: code, args: args, cause: errors.New(message)}
}

// FromWire rebuilds an error from a code and an already rendered message, e.g. an errCode and a
// message carried by a Temporal ApplicationError. Unknown codes are reported as
// Common.Unexpected's status with the given errCode string.
func FromWire(errCode, message string) *Error {
	code, ok := LookupCode(errCode)
	if !ok {
		code = ErrorCode{Code: errCode, Status: http.StatusInternalServerError, Template: "%s"}
	}
	return &Error{code: code, template: code, raw: message, hasRaw: true}
}

// Wrap annotates err with msg. If err carries an obshell code the result keeps it and its message
// is "<msg>: <inner message>"; otherwise it is a plain wrapped Go error (fmt.Errorf("%s: %w")).
// A nil err gives nil.
func Wrap(err error, msg string) error {
	if err == nil {
		return nil
	}
	var oe *Error
	if errors.As(err, &oe) {
		return &Error{code: oe.code, template: codeEmpty, args: []any{msg}, cause: err}
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// WrapRetain returns an error whose message is code's template filled with args, then ": " and
// err's message. The reported code is err's code when err is an obshell error whose code is not
// Common.Unexpected, else code. This is how "Create task 'Initialize cluster' failed: <ip:port> is
// under maintenance" keeps Agent.UnderMaintenance. A nil err gives nil.
func WrapRetain(code ErrorCode, err error, args ...any) *Error {
	if err == nil {
		return nil
	}
	e := &Error{code: code, template: code, args: args, cause: err}
	var oe *Error
	if errors.As(err, &oe) && oe.code.Code != CodeCommonUnexpected.Code {
		e.code = oe.code
	}
	return e
}

// WrapOverride is WrapRetain that always reports code.
func WrapOverride(code ErrorCode, err error, args ...any) *Error {
	if err == nil {
		return nil
	}
	return &Error{code: code, template: code, args: args, cause: err}
}

// Error renders the English message.
func (e *Error) Error() string {
	if e.hasRaw {
		return e.raw
	}
	msg := e.template.render(e.args)
	if e.cause != nil {
		return msg + ": " + e.cause.Error()
	}
	return msg
}

// Code is the code reported in the envelope (status, errCode, legacy code).
func (e *Error) Code() ErrorCode { return e.code }

// Status is the HTTP status of the reported code.
func (e *Error) Status() int { return e.code.Status }

// ErrCode is the errCode string of the reported code.
func (e *Error) ErrCode() string { return e.code.Code }

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// Is matches another *Error with the same reported errCode, so that
// errors.Is(err, obshell.New(obshell.CodeTaskNotFound)) works regardless of arguments.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code.Code == e.code.Code
}

func (c ErrorCode) render(args []any) string {
	if len(args) == 0 && !hasVerb(c.Template) {
		return c.Template
	}
	return fmt.Sprintf(c.Template, args...)
}

func hasVerb(s string) bool {
	for i := 0; i < len(s)-1; i++ {
		if s[i] == '%' {
			return true
		}
	}
	return false
}

// HasCode reports whether err (or an error it wraps) is an obshell error reporting code.
func HasCode(err error, code ErrorCode) bool {
	var oe *Error
	return errors.As(err, &oe) && oe.code.Code == code.Code
}

// CodeOf returns the reported code of the first obshell error in err's chain.
func CodeOf(err error) (ErrorCode, bool) {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.code, true
	}
	return ErrorCode{}, false
}
