// Package relay is the wire protocol of a `pbxhooks listen` connection and
// its client: one outbound WebSocket from the listener to the API
// (GET /v1/accounts/{account_id}/relay), over which the API hands the
// listener the signed requests of a temporary relay hook and the listener
// reports what its local endpoint answered.
//
// Every message is one JSON text frame (Frame). The API speaks first with a
// "ready" frame naming the relay hook; then each "request" frame carries a
// bus.RelayRequest under an id, which the listener answers, in any order,
// with a "response" frame of the same id carrying a bus.RelayResponse.
package relay

import (
	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

// Frame types.
const (
	FrameReady    = "ready"
	FrameRequest  = "request"
	FrameResponse = "response"
)

// Query parameters of the relay route: the relay hook's filter, named like
// the hook document's fields, and where the listener forwards to. A list
// parameter may be repeated or comma separated.
const (
	ParamForwardTo    = "forward_to"
	ParamHook         = "hook"
	ParamCallTypes    = "call_types"
	ParamCallStatuses = "call_statuses"
	ParamMediaTypes   = "media_types"
	ParamFormat       = "format"
)

// Subprotocol is the WebSocket subprotocol both sides name, so a future
// incompatible protocol is refused at the handshake rather than misread.
const Subprotocol = "pbxhooks.relay.v1"

// MaxFrameBytes bounds one frame either way: a request's body as the
// matcher renders it, base64 in JSON, fits with room to spare.
const MaxFrameBytes = 4 << 20

// Frame is one message of a relay connection.
type Frame struct {
	Type string `json:"type"`
	// ID pairs a response with its request.
	ID       string             `json:"id,omitempty"`
	Hook     *Hook              `json:"hook,omitempty"`
	Request  *bus.RelayRequest  `json:"request,omitempty"`
	Response *bus.RelayResponse `json:"response,omitempty"`
}

// Hook is the relay hook a connection created, as the ready frame tells
// the listener: its id (the X-Hook-ID of every request), its filter, and
// the signing secret that verifies every forwarded request.
type Hook struct {
	ID           string   `json:"id"`
	AccountID    string   `json:"account_id"`
	URI          string   `json:"uri"`
	Hook         string   `json:"hook"`
	Format       string   `json:"format"`
	CallTypes    []string `json:"call_types"`
	CallStatuses []string `json:"call_statuses"`
	MediaTypes   []string `json:"media_types"`
	Secret       string   `json:"secret"`
}
