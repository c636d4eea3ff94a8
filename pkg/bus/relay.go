package bus

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// SubjectRelayAll matches every relay hook's subject; see RelaySubject.
const SubjectRelayAll = "relay.*.*"

// RelaySubject is relay.<account_id>.<hook_id> (core NATS request/reply):
// the deliverer sends a relay hook's signed request there (RelayRequest)
// instead of dialling the hook's uri, and the API replica holding that
// hook's `pbxhooks listen` connection answers with the listener's response
// (RelayResponse). No responder means the listener is gone.
func RelaySubject(accountID, hookID string) (string, error) {
	if err := ValidateToken(accountID); err != nil {
		return "", fmt.Errorf("relay subject account id: %w", err)
	}
	if err := ValidateToken(hookID); err != nil {
		return "", fmt.Errorf("relay subject hook id: %w", err)
	}
	return "relay." + accountID + "." + hookID, nil
}

// Bounds of a RelayResponse: what a listener reports is outside input.
const (
	// MaxRelayResponseBody is the most of the local response's body a
	// listener reports (the deliverer keeps at most this much in an
	// attempt row anyway).
	MaxRelayResponseBody = 64 << 10
	// MaxRelayResponseHeaderBytes bounds the reported headers, names and
	// values together.
	MaxRelayResponseHeaderBytes = 16 << 10
	// MaxRelayErrorBytes bounds a reported transport error.
	MaxRelayErrorBytes = 1 << 10
)

// RelayRequest is a signed callback handed to a relay hook's listener: the
// request the deliverer would have sent, headers (the Standard Webhooks
// signature among them) and body exactly as signed. It is the NATS message
// body on RelaySubject and the request a relay connection forwards.
type RelayRequest struct {
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}

// RelayResponse is what the listener's local endpoint answered: Status,
// Header and Body (at most MaxRelayResponseBody bytes of it), or Error when
// it could not be reached or answered no complete response, which the
// deliverer records as a connection failure and retries.
type RelayResponse struct {
	Status int         `json:"status,omitempty"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// DecodeRelayResponse reads a reported response and refuses one outside
// the bounds: a status that is no HTTP status, oversized headers or body.
func DecodeRelayResponse(data []byte) (RelayResponse, error) {
	var r RelayResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return RelayResponse{}, fmt.Errorf("relay response is not JSON: %w", err)
	}
	if err := r.Validate(); err != nil {
		return RelayResponse{}, err
	}
	return r, nil
}

// Validate checks a reported response against the bounds.
func (r RelayResponse) Validate() error {
	switch {
	case r.Error != "" && r.Status != 0:
		return errors.New("relay response has both an error and a status")
	case r.Error != "" && len(r.Error) > MaxRelayErrorBytes:
		return fmt.Errorf("relay response error is over %d bytes", MaxRelayErrorBytes)
	case r.Error == "" && (r.Status < 100 || r.Status > 599):
		return fmt.Errorf("relay response status %d is not an HTTP status", r.Status)
	case len(r.Body) > MaxRelayResponseBody:
		return fmt.Errorf("relay response body is over %d bytes", MaxRelayResponseBody)
	}
	size := 0
	for name, values := range r.Header {
		size += len(name)
		for _, v := range values {
			size += len(v)
		}
	}
	if size > MaxRelayResponseHeaderBytes {
		return fmt.Errorf("relay response headers are over %d bytes", MaxRelayResponseHeaderBytes)
	}
	return nil
}
