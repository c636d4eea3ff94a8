package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/httperror"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// Error is an API error: it becomes the HTTP status and Kazoo's error body.
// Handlers return it; handleError renders it. Err, when set, is the internal
// cause: logged, never shown to the client.
type Error struct {
	Status  int
	Message string
	// Data names the bad fields and the rules they broke; nil renders {}.
	Data validation.Violations
	Err  error
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

func errBadRequest(message string, data validation.Violations) *Error {
	return &Error{Status: http.StatusBadRequest, Message: message, Data: data}
}

// errInvalidData reports a document that broke validation rules.
func errInvalidData(v validation.Violations) *Error {
	return errBadRequest("invalid data: "+v.Summary(), v)
}

func errNotFound(message string) *Error {
	return &Error{Status: http.StatusNotFound, Message: message}
}

// databaseRetryAfter is what a client is told to wait while PostgreSQL is
// unreachable: long enough for a restart or failover, short enough to notice
// its end quickly.
const databaseRetryAfter = 5 * time.Second

// errInternal reports a failure that is not the client's. A database outage
// is 503 with Retry-After, so clients and load balancers retry instead of
// treating it as a bug; anything else is 500.
func errInternal(err error) *Error {
	if store.IsUnavailable(err) {
		return &Error{Status: http.StatusServiceUnavailable, Message: "the database is unavailable; retry shortly",
			Err: err, RetryAfter: databaseRetryAfter}
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error; quote the request_id when reporting it", Err: err}
}

// handleError is Echo's HTTPErrorHandler: the one place where any error,
// ours or Echo's, becomes a response.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	apiErr := s.toAPIError(err, c)
	if apiErr.Status >= http.StatusInternalServerError {
		s.log.ErrorContext(c.Request().Context(), "request failed",
			telemetry.KeyError, err.Error(), "request_id", requestID(c),
			"method", c.Request().Method, "path", c.Request().URL.Path)
	}
	var data any
	if !apiErr.Data.Empty() {
		data = apiErr.Data
	}
	body := httperror.New(apiErr.Status, apiErr.Message, data)
	body.RequestID = requestID(c)
	httperror.SetRetryAfter(c.Response().Header(), apiErr.RetryAfter)
	// A handler may have set the type of what it meant to send (media);
	// the error is JSON whatever that was.
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	var writeErr error
	if c.Request().Method == http.MethodHead {
		writeErr = c.NoContent(apiErr.Status)
	} else {
		writeErr = c.JSON(apiErr.Status, body)
	}
	if writeErr != nil {
		s.log.WarnContext(c.Request().Context(), "write error response", telemetry.KeyError, writeErr.Error())
	}
}

// toAPIError maps Echo's errors (unknown route, wrong method, body limit)
// to messages that say what to change; anything unrecognised is a 500.
func (s *Server) toAPIError(err error, c echo.Context) *Error {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return errInternal(err)
	}
	req := c.Request()
	switch he.Code {
	case http.StatusNotFound:
		return errNotFound(fmt.Sprintf("no route for %s %s", req.Method, truncate(req.URL.Path, 200)))
	case http.StatusMethodNotAllowed:
		return &Error{Status: he.Code, Message: fmt.Sprintf("method %s is not allowed on %s", req.Method, truncate(req.URL.Path, 200))}
	case http.StatusRequestEntityTooLarge:
		return &Error{Status: he.Code, Message: fmt.Sprintf("request body is larger than the limit of %d bytes", s.maxBody)}
	}
	if he.Code >= http.StatusInternalServerError {
		return errInternal(err)
	}
	message := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok && m != "" {
		message = m
	}
	return &Error{Status: he.Code, Message: message}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
