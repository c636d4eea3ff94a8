// Package relay sends the requests of relay hooks (the temporary hooks of
// `pbxhooks listen`) to their listener instead of dialling their uri: over
// NATS request/reply on bus.RelaySubject, answered by whichever API replica
// holds the listener's connection. It is an http.RoundTripper, so a relayed
// attempt is timed, read, classified and recorded exactly like a dialled
// one; the SSRF guard is not involved because nothing is dialled.
package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
)

// ErrNoListener says no API replica holds the relay hook's connection: the
// listener went away (its hook is deleted shortly) or is reconnecting.
var ErrNoListener = errors.New("relay listener is not connected")

// NewClient returns the client for relay hooks: requests go over nc, and
// timeout bounds each, as the outbound client's does for dialled hooks.
func NewClient(nc *nats.Conn, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &Transport{NATS: nc},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Transport hands each request to the listener of the relay hook its
// X-Account-ID and X-Hook-ID headers name.
type Transport struct {
	NATS *nats.Conn
}

// RoundTrip sends req as a bus.RelayRequest and returns the listener's
// local response. A listener that is gone, that could not reach its local
// endpoint, or that did not answer in time is an error (a connection
// failure the deliverer retries).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	subject, err := bus.RelaySubject(req.Header.Get(deliver.HeaderAccountID), req.Header.Get(deliver.HeaderHookID))
	if err != nil {
		return nil, err
	}
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}
	data, err := json.Marshal(bus.RelayRequest{Method: req.Method, URL: req.URL.String(), Header: req.Header, Body: body})
	if err != nil {
		return nil, fmt.Errorf("encode relay request: %w", err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	reply, err := t.NATS.RequestMsgWithContext(req.Context(), msg)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoListener
	}
	if err != nil {
		return nil, fmt.Errorf("relay request: %w", err)
	}
	resp, err := bus.DecodeRelayResponse(reply.Data)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("relay listener: %s", resp.Error)
	}
	header := resp.Header
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		Status:     strconv.Itoa(resp.Status) + " " + http.StatusText(resp.Status),
		StatusCode: resp.Status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: io.NopCloser(bytes.NewReader(resp.Body)), ContentLength: int64(len(resp.Body)),
		Request: req,
	}, nil
}
