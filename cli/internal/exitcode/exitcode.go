// Package exitcode is the one home of the CLI's exit codes and of the
// translation of every failure (bad usage, an API error answer, a
// connection that never got an answer) into one of them, so a script can
// branch on `$?` without parsing messages.
package exitcode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
)

// The exit codes, documented in `pbxhooks --help` and the README. Their
// numbers are a contract with scripts: never renumber one.
const (
	// OK: the command did what was asked.
	OK = 0
	// Failure: anything not covered below (an API answer of 5xx, a
	// signature that does not verify, a local file that cannot be read).
	Failure = 1
	// Usage: unknown command or flag, wrong arguments, missing setting
	// (no account, no token).
	Usage = 2
	// Auth: the API or ingest refused the credential (401) or the
	// credential may not do this (403), or too many failed attempts (429
	// before authentication).
	Auth = 3
	// NotFound: the API answered 404 (no such hook, delivery, account
	// resource).
	NotFound = 4
	// Unreachable: no HTTP answer at all (connection refused, DNS,
	// timeout, TLS).
	Unreachable = 5
	// Rejected: the API refused the request's content (400, 409 stale
	// revision, 413, 422); the message names the fields.
	Rejected = 6
)

// Help is the table printed in the root command's help.
const Help = `Exit codes:
  0  success
  1  failure (server error, signature mismatch, unreadable file, ...)
  2  usage error (unknown command or flag, bad arguments, missing --account or --token)
  3  authentication or permission refused (HTTP 401, 403, or 429 after failed logins)
  4  not found (HTTP 404: no such webhook, delivery, ...)
  5  API or ingest unreachable (no HTTP answer: refused, DNS, timeout)
  6  request rejected as invalid (HTTP 400, 409, 413, 422; the message names the fields)`

// Kinds name the codes in JSON error output.
var kinds = map[int]string{
	OK: "ok", Failure: "failure", Usage: "usage", Auth: "auth", NotFound: "not_found",
	Unreachable: "unreachable", Rejected: "rejected",
}

// Kind is the stable name of code ("not_found"), used in JSON errors.
func Kind(code int) string {
	if k, ok := kinds[code]; ok {
		return k
	}
	return "failure"
}

// Error is a failure with its exit code. Status and Data are set when it
// came from an HTTP error answer: Data is the envelope's data, which for a
// 400 names each broken field.
type Error struct {
	Code    int
	Message string
	Status  int
	Data    json.RawMessage
	Err     error
}

func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return Kind(e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// Usagef is a usage error (exit 2).
func Usagef(format string, args ...any) error {
	return &Error{Code: Usage, Message: fmt.Sprintf(format, args...)}
}

// AsUsage marks err as a usage error (exit 2), keeping it for errors.Is.
func AsUsage(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Usage, Message: err.Error(), Err: err}
}

// Failuref is a plain failure (exit 1).
func Failuref(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: Failure, Message: err.Error(), Err: err}
}

// Of returns err's exit code: the code of an *Error in its chain, else
// Unreachable for a transport failure, else Failure. Of(nil) is OK.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if IsUnreachable(err) {
		return Unreachable
	}
	return Failure
}

// IsUnreachable reports whether err means no HTTP answer came: the
// connection was refused or reset, the name did not resolve, or the
// request timed out. A cancelled context (Ctrl-C) is not unreachable.
func IsUnreachable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &opErr):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.As(err, &urlErr):
		// Anything else the HTTP client returns instead of a response
		// (TLS handshake, EOF before the status line) is a transport failure.
		return true
	}
	return false
}

// Transport wraps an error the HTTP client returned instead of an answer,
// naming the service and URL so the user sees what did not answer.
func Transport(service, baseURL string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &Error{Code: Unreachable, Message: fmt.Sprintf("%s at %s unreachable: %v", service, baseURL, rootCause(err)), Err: err}
}

// rootCause drops the url.Error wrapper, whose text repeats method and URL.
func rootCause(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

// envelope is the error answer every pbxhooks HTTP service renders
// (pkg/httperror): {"status":"error","error":"404","message":"...","data":{...}}.
type envelope struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// FromResponse turns an HTTP error answer (status >= 400) into an *Error
// with the code its status maps to and the envelope's message and data.
// what names the request for the message ("get webhook 0123...").
func FromResponse(what string, status int, body []byte) error {
	var env envelope
	msg := ""
	if json.Unmarshal(body, &env) == nil && env.Message != "" {
		msg = env.Message
	} else if text := strings.TrimSpace(string(body)); text != "" && len(text) <= 200 {
		msg = text
	} else {
		msg = http.StatusText(status)
	}
	e := &Error{Code: codeForStatus(status), Status: status, Message: fmt.Sprintf("%s: %s (HTTP %d)", what, msg, status)}
	if len(env.Data) > 0 && string(env.Data) != "null" && string(env.Data) != "{}" {
		e.Data = env.Data
		if fields := fieldMessages(env.Data); fields != "" {
			e.Message += "\n" + fields
		}
	}
	return e
}

func codeForStatus(status int) int {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return Auth
	case http.StatusNotFound, http.StatusGone:
		return NotFound
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge,
		http.StatusUnprocessableEntity, http.StatusRequestedRangeNotSatisfiable:
		return Rejected
	}
	return Failure
}

// fieldMessages renders the envelope's per-field errors
// ({"uri":{"format":{"message":"..."}}}) as "  uri: ..." lines; other data
// shapes render as nothing (JSON output still carries them).
func fieldMessages(data json.RawMessage) string {
	var fields map[string]map[string]struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &fields) != nil {
		return ""
	}
	var lines []string
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		for _, rule := range slices.Sorted(maps.Keys(fields[field])) {
			m := fields[field][rule].Message
			if m == "" {
				m = rule
			}
			lines = append(lines, "  "+field+": "+m)
		}
	}
	return strings.Join(lines, "\n")
}

// JSON is the shape of an error in --output json mode, written to stderr:
// {"error":{"kind":"not_found","exit_code":4,"status":404,"message":"...","data":{...}}}.
type JSON struct {
	Error JSONError `json:"error"`
}

// JSONError is the body of JSON.
type JSONError struct {
	Kind     string          `json:"kind"`
	ExitCode int             `json:"exit_code"`
	Status   int             `json:"status,omitempty"`
	Message  string          `json:"message"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// ToJSON describes err for --output json.
func ToJSON(err error) JSON {
	code := Of(err)
	out := JSONError{Kind: Kind(code), ExitCode: code, Message: err.Error()}
	var e *Error
	if errors.As(err, &e) {
		out.Status, out.Data = e.Status, e.Data
	}
	return JSON{Error: out}
}
