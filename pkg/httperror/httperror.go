// Package httperror is the error answer of every pbxhooks HTTP surface:
// Kazoo's envelope {"status":"error","error":"<code>","message":...,"data":{...}}.
// Besides the envelope it provides Listener, which gives the same envelope
// to the protocol errors net/http answers on its own, before any handler
// runs (431 for oversized headers, 400 for a malformed request line or Host,
// 501 for an unknown transfer encoding), which it otherwise writes as plain
// text.
package httperror

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Body is Kazoo's error envelope. Data names the bad fields and the rules
// they broke; it is rendered {} when empty.
type Body struct {
	Status  string `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
	Data    any    `json:"data"`
	// RequestID is set by surfaces that tag each request (the API).
	RequestID string `json:"request_id,omitempty"`
}

// New returns the envelope for status; a nil data becomes {}.
func New(status int, message string, data any) Body {
	if data == nil {
		data = struct{}{}
	}
	return Body{Status: "error", Error: strconv.Itoa(status), Message: message, Data: data}
}

// Write sends body as the answer with its status.
func Write(w http.ResponseWriter, status int, body Body) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// SetRetryAfter tells the client, on h, how long to wait before retrying,
// in whole seconds rounded up, so that a client waiting as told is not
// refused again for having come a fraction early; a zero or negative wait
// sets nothing.
func SetRetryAfter(h http.Header, wait time.Duration) {
	if wait > 0 {
		h.Set("Retry-After", strconv.FormatInt(RetryAfterSeconds(wait), 10))
	}
}

// RetryAfterSeconds is the Retry-After value of a positive wait: whole
// seconds, rounded up.
func RetryAfterSeconds(wait time.Duration) int64 {
	return int64((wait + time.Second - 1) / time.Second)
}
