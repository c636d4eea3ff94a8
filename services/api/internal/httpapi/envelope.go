package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// envelope is Kazoo's success envelope. The paging members are set on
// paginated lists only; revision on single documents only.
type envelope struct {
	Data         any    `json:"data"`
	Status       string `json:"status"`
	RequestID    string `json:"request_id,omitempty"`
	Revision     string `json:"revision,omitempty"`
	PageSize     *int   `json:"page_size,omitempty"`
	StartKey     string `json:"start_key,omitempty"`
	NextStartKey string `json:"next_start_key,omitempty"`
}

// respond writes a success envelope. A single document's revision is also
// its ETag, which a client may send back as If-Match.
func respond(c echo.Context, status int, env envelope) error {
	if env.Revision != "" {
		c.Response().Header().Set("ETag", `"`+env.Revision+`"`)
	}
	env.Status = "success"
	env.RequestID = requestID(c)
	return c.JSON(status, env)
}

// readData reads the request's {"data": {...}} envelope and returns the
// members of data. The Content-Type is not checked: Kazoo clients send JSON
// with whatever curl defaults to, and the body must parse as JSON anyway.
func readData(c echo.Context) (map[string]json.RawMessage, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, errBadRequest(`request body is empty; expected {"data": {...}}`, nil)
	}
	return parseData(body)
}

// readBody reads the whole (size-limited) body, without surrounding space.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		// BodyLimit's reader fails with Echo's 413 error; handleError
		// renders it like every other error.
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, errBadRequest("could not read the request body", nil)
	}
	return bytes.TrimSpace(body), nil
}

// parseData checks the {"data": {...}} envelope and returns data's members.
func parseData(body []byte) (map[string]json.RawMessage, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		var syntaxErr *json.SyntaxError
		if errors.As(err, &syntaxErr) {
			return nil, errBadRequest(fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr), nil)
		}
		return nil, errBadRequest(`request body must be a JSON object {"data": {...}}`, nil)
	}
	data, ok := env["data"]
	if !ok || bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		var v validation.Violations
		v.Addf("data", validation.RuleRequired, `is required: the request body must be {"data": {...}}`)
		return nil, errBadRequest(`missing "data": the request body must be {"data": {...}}`, v)
	}
	var fields map[string]json.RawMessage
	if data = bytes.TrimSpace(data); len(data) == 0 || data[0] != '{' || json.Unmarshal(data, &fields) != nil {
		var v validation.Violations
		v.Add("data", validation.RuleType, validation.Rule{Message: "must be an object", Target: "an object"})
		return nil, errBadRequest(`"data" must be a JSON object`, v)
	}
	// Whatever a handler stores comes from data: refuse text PostgreSQL
	// cannot hold here, once for every route, instead of failing the
	// INSERT with a 500.
	if bad, found := validation.FindUnstorable(data); found {
		var v validation.Violations
		v.AddUnstorable(bad)
		return nil, errInvalidData(v)
	}
	return fields, nil
}

const requestIDKey = "request_id"

// validRequestID bounds a caller-supplied X-Request-ID: it is echoed in
// headers, bodies and logs, so it must be short and plain.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// assignRequestID keeps the caller's X-Request-ID when it is plain, or
// makes one, and returns it in the X-Request-ID header.
func assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID.MatchString(id) {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(requestIDKey, id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

// logRequests logs one line per request. It hands a handler's error to the
// error handler itself, so the logged status is the one the client got.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		req := c.Request()
		s.log.InfoContext(req.Context(), "http request",
			"method", req.Method,
			"path", truncate(req.URL.Path, 200),
			"status", c.Response().Status,
			"duration_ms", time.Since(start).Milliseconds(),
			"request_id", requestID(c),
		)
		return nil
	}
}

// recoverPanics turns a handler panic into a 500 with the stack logged, so
// one bad request never takes the process down.
func recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				err = errInternal(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
			}
		}()
		return next(c)
	}
}

// propagateTrace continues the caller's W3C trace context, so the
// hooks.changed notification a request causes carries its trace id.
func propagateTrace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		ctx := otel.GetTextMapPropagator().Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		c.SetRequest(req.WithContext(ctx))
		return next(c)
	}
}

// jsonString decodes raw only when it is a JSON string, so a number or a
// list is a type error rather than coerced.
func jsonString(raw json.RawMessage, out *string) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return errors.New("not a JSON string")
	}
	return json.Unmarshal(raw, out)
}
