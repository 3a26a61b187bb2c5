package obshell

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TraceIDHeader is the request header whose value becomes the envelope's traceId.
const TraceIDHeader = "X-OBSHELL-Trace-ID"

// Response is obshell's envelope (OcsAgentResponse). The HTTP status of the reply equals Status.
type Response struct {
	Successful bool      `json:"successful"`
	Timestamp  time.Time `json:"timestamp"` // server time; encoding/json writes RFC3339Nano
	Duration   int64     `json:"duration"`  // milliseconds spent handling the request
	Status     int       `json:"status"`
	TraceID    string    `json:"traceId"`
	Data       any       `json:"data,omitempty"`
	Error      *APIError `json:"error,omitempty"`
}

// APIError is the envelope's "error" object.
type APIError struct {
	Code      int    `json:"code,omitempty"` // legacy numeric code: 1, 10008, omitted when 0
	ErrCode   string `json:"errCode"`
	Message   string `json:"message"`
	SubErrors []any  `json:"subErrors,omitempty"`
}

// Error renders "[errCode]: message", obshell's ErrorMessage form.
func (e *APIError) Error() string { return fmt.Sprintf("[%s]: %s", e.ErrCode, e.Message) }

// Contents is the wrapper obshell puts around a slice payload: {"contents":[...]}.
type Contents[T any] struct {
	Contents []T `json:"contents"`
}

type contentsAny struct {
	Contents any `json:"contents"`
}

// WrapData applies obshell's buildResponseData rule: a slice becomes {"contents":[...]}. Two
// deliberate differences, both safer for clients: a nil slice is sent as [] (Python iterates
// "contents" and would fail on null), and a nil pointer or nil map is treated as no data, so the
// "data" key is omitted instead of being written as null.
func WrapData(data any) any {
	if data == nil {
		return nil
	}
	v := reflect.ValueOf(data)
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return contentsAny{Contents: reflect.MakeSlice(v.Type(), 0, 0).Interface()}
		}
		return contentsAny{Contents: data}
	case reflect.Pointer, reflect.Map, reflect.Interface:
		if v.IsNil() {
			return nil
		}
	}
	return data
}

// NewSuccess builds a 200 envelope. start is when handling began (for duration).
func NewSuccess(data any, start time.Time, traceID string) Response {
	now := time.Now()
	return Response{
		Successful: true,
		Timestamp:  now,
		Duration:   now.Sub(start).Milliseconds(),
		Status:     http.StatusOK,
		TraceID:    traceID,
		Data:       WrapData(data),
	}
}

// NewNoContent builds the 204 envelope obshell returns for "nothing to do" (successful, no data).
// HTTP forbids a body with 204, so on the wire only the status arrives (net/http drops the body,
// as it does for obshell); clients treat a bare 204 as success.
func NewNoContent(start time.Time, traceID string) Response {
	r := NewSuccess(nil, start, traceID)
	r.Status = http.StatusNoContent
	return r
}

// NewErrorResponse builds the envelope for err using ToAPIError.
func NewErrorResponse(err error, start time.Time, traceID string) Response {
	now := time.Now()
	status, apiErr := ToAPIError(err)
	return Response{
		Successful: false,
		Timestamp:  now,
		Duration:   now.Sub(start).Milliseconds(),
		Status:     status,
		TraceID:    traceID,
		Error:      apiErr,
	}
}

// ToAPIError maps any error to the HTTP status and envelope error as obshell's buildErrorResponse
// does (CONTRACT.md §4.2):
//   - an *Error anywhere in the chain → its reported code's status, errCode and legacy code; the
//     message is the outermost error's text, so an fmt.Errorf("x: %w", obshellErr) keeps its prefix;
//   - a *mysql.MySQLError in the chain → 400 MySQL.Error with the raw error text;
//   - anything else → 500 Common.Unexpected with the raw error text.
//
// A nil error maps to 500 Common.Unexpected "<nil>" rather than panicking.
func ToAPIError(err error) (int, *APIError) {
	if err == nil {
		return CodeCommonUnexpected.Status, &APIError{ErrCode: CodeCommonUnexpected.Code, Message: "<nil>"}
	}
	var oe *Error
	if errors.As(err, &oe) {
		c := oe.Code()
		return c.Status, &APIError{Code: c.OldCode, ErrCode: c.Code, Message: err.Error()}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return CodeMySQLError.Status, &APIError{ErrCode: CodeMySQLError.Code, Message: err.Error()}
	}
	return CodeCommonUnexpected.Status, &APIError{ErrCode: CodeCommonUnexpected.Code, Message: err.Error()}
}

// PanicResponse is obshell's reply to a recovered panic:
// 500 Common.Unexpected "Unexpected error: Internal Server Error".
func PanicResponse(start time.Time, traceID string) Response {
	return NewErrorResponse(NewUnexpected("Internal Server Error"), start, traceID)
}

// RawResponse is the client-side view of the envelope: data is kept raw for typed decoding.
type RawResponse struct {
	Successful bool            `json:"successful"`
	Timestamp  time.Time       `json:"timestamp"`
	Duration   int64           `json:"duration"`
	Status     int             `json:"status"`
	TraceID    string          `json:"traceId"`
	Data       json.RawMessage `json:"data,omitempty"`
	Error      *APIError       `json:"error,omitempty"`
}

// TraceID returns the request's X-OBSHELL-Trace-ID value, or 16 random hex characters as obshell
// generates them.
func TraceID(requestValue string) string {
	if requestValue != "" {
		return requestValue
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
