package relay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

// Options say where a listener connects, what its relay hook selects and
// where it forwards.
type Options struct {
	// APIURL is the API's base URL (http or https).
	APIURL    string
	Token     string
	AccountID string
	// ForwardTo is the local URL every request is forwarded to; it may be
	// loopback (the listener dials it, never the deliverer).
	ForwardTo string
	// Hook is the hook type ("all" when empty); the filters are as for a
	// hook document; Format is "json" when empty.
	Hook         string
	CallTypes    []string
	CallStatuses []string
	MediaTypes   []string
	Format       string
	// HTTPClient dials the API (http.DefaultClient when nil).
	HTTPClient *http.Client
	// Local sends the forwarded requests: by default a client that follows
	// no redirect (the deliverer follows none either) with LocalTimeout.
	Local *http.Client
	// MaxInFlight bounds the requests forwarded at once
	// (DefaultMaxInFlight when zero).
	MaxInFlight int
}

// Defaults of Options.
const (
	DefaultFormat      = "json"
	DefaultHook        = "all"
	LocalTimeout       = 30 * time.Second
	DefaultMaxInFlight = 16
)

// Delivery is one forwarded request as the listener saw it: what it was
// (from its headers and body), what the local endpoint answered, and how
// long it took.
type Delivery struct {
	Time time.Time
	// WebhookID is the Standard Webhooks id: the delivery id, the same on
	// every retry.
	WebhookID string
	// Event, Call and Status are read from the payload when it names them
	// (Kazoo's hook_event and call_id, Spoke's type, subtype and id).
	Event  string
	Call   string
	Status string
	// Code is the local endpoint's status, zero when it was not reached.
	Code     int
	Error    string
	Duration time.Duration
}

// Listener is one open relay connection. Its relay hook exists until the
// connection ends (Close, or the context of Serve ending).
type Listener struct {
	conn        *websocket.Conn
	hook        Hook
	forwardTo   *url.URL
	local       *http.Client
	maxInFlight int
}

// RefusedError is the API's answer when it did not open the relay (bad
// token, another account, an invalid filter): its status and error body.
type RefusedError struct {
	Status int
	Body   string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the API refused the relay: HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Connect opens the relay connection and waits for its relay hook.
func Connect(ctx context.Context, opts Options) (*Listener, error) {
	forwardTo, err := url.Parse(opts.ForwardTo)
	if err != nil || (forwardTo.Scheme != "http" && forwardTo.Scheme != "https") || forwardTo.Host == "" {
		return nil, fmt.Errorf("forward-to %q must be an absolute http or https URL", opts.ForwardTo)
	}
	endpoint, err := relayURL(opts)
	if err != nil {
		return nil, err
	}
	header := http.Header{}
	header.Set("X-Auth-Token", opts.Token)
	conn, resp, err := websocket.Dial(ctx, endpoint, &websocket.DialOptions{
		HTTPClient: opts.HTTPClient, HTTPHeader: header, Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			// websocket.Dial kept the first KiB of the answer's body.
			body, _ := io.ReadAll(resp.Body)
			return nil, &RefusedError{Status: resp.StatusCode, Body: string(body)}
		}
		return nil, fmt.Errorf("connect to the relay: %w", err)
	}
	conn.SetReadLimit(MaxFrameBytes)
	var ready Frame
	if err := readFrame(ctx, conn, &ready); err != nil {
		conn.CloseNow()
		return nil, fmt.Errorf("wait for the relay hook: %w", err)
	}
	if ready.Type != FrameReady || ready.Hook == nil {
		conn.CloseNow()
		return nil, fmt.Errorf("relay spoke %q first, not %q", ready.Type, FrameReady)
	}
	local := opts.Local
	if local == nil {
		local = &http.Client{
			Timeout:       LocalTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Listener{
		conn: conn, hook: *ready.Hook, forwardTo: forwardTo, local: local,
		maxInFlight: cmp.Or(max(opts.MaxInFlight, 0), DefaultMaxInFlight),
	}, nil
}

// relayURL is the ws(s) URL of the account's relay route with the filter.
func relayURL(opts Options) (string, error) {
	base, err := url.Parse(opts.APIURL)
	if err != nil || base.Host == "" {
		return "", fmt.Errorf("API URL %q is not an absolute URL", opts.APIURL)
	}
	switch base.Scheme {
	case "http":
		base.Scheme = "ws"
	case "https":
		base.Scheme = "wss"
	default:
		return "", fmt.Errorf("API URL %q must be http or https", opts.APIURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/") + "/v1/accounts/" + url.PathEscape(opts.AccountID) + "/relay"
	q := url.Values{}
	q.Set(ParamForwardTo, opts.ForwardTo)
	q.Set(ParamHook, orDefault(opts.Hook, DefaultHook))
	q.Set(ParamFormat, orDefault(opts.Format, DefaultFormat))
	for param, values := range map[string][]string{
		ParamCallTypes: opts.CallTypes, ParamCallStatuses: opts.CallStatuses, ParamMediaTypes: opts.MediaTypes,
	} {
		for _, v := range values {
			q.Add(param, v)
		}
	}
	base.RawQuery = q.Encode()
	return base.String(), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Hook is the relay hook of this connection.
func (l *Listener) Hook() Hook { return l.hook }

// Serve forwards every request the relay hands over until ctx ends (then
// it closes the connection normally, which removes the relay hook, and
// returns nil) or the connection breaks (an error). report, when not nil,
// hears of every delivery after its response was sent back; it may be
// called from several goroutines at once.
func (l *Listener) Serve(ctx context.Context, report func(Delivery)) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	// The reads outlive ctx so that the close handshake, started when ctx
	// ends, is read to its end: the API then knows the listener left on
	// purpose.
	closed := make(chan struct{})
	defer close(closed)
	go func() {
		select {
		case <-ctx.Done():
			l.conn.Close(websocket.StatusNormalClosure, "listener stopped")
		case <-closed:
		}
	}()
	readCtx := context.WithoutCancel(ctx)
	slots := make(chan struct{}, l.maxInFlight)
	for {
		var f Frame
		err := readFrame(readCtx, l.conn, &f)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			l.conn.CloseNow()
			return fmt.Errorf("relay connection: %w", err)
		}
		if f.Type != FrameRequest || f.Request == nil || f.ID == "" {
			continue // a frame of a later protocol revision: not ours to answer
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			d, resp := l.forward(ctx, f.Request)
			if err := writeFrame(ctx, l.conn, Frame{Type: FrameResponse, ID: f.ID, Response: &resp}); err != nil {
				return // the connection is gone; the deliverer retries
			}
			if report != nil {
				report(d)
			}
		}()
	}
}

// Close ends the connection (and so the relay hook) at once.
func (l *Listener) Close() error {
	return l.conn.Close(websocket.StatusNormalClosure, "listener closed")
}

// Abort drops the connection without a close handshake, as a killed
// process would; the API removes the relay hook all the same.
func (l *Listener) Abort() error { return l.conn.CloseNow() }

// hopHeaders are per connection, not forwarded (RFC 9110 section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer"}

// forward sends one request to the local endpoint and describes the answer.
func (l *Listener) forward(ctx context.Context, r *bus.RelayRequest) (Delivery, bus.RelayResponse) {
	started := time.Now()
	d := Delivery{Time: started, WebhookID: r.Header.Get("Webhook-Id")}
	d.Event, d.Call, d.Status = summarize(r.Header.Get("Content-Type"), r.Body)
	resp, err := l.send(ctx, r)
	d.Duration = time.Since(started)
	if err != nil {
		d.Error = err.Error()
		return d, bus.RelayResponse{Error: truncate(err.Error(), bus.MaxRelayErrorBytes)}
	}
	d.Code = resp.Status
	return d, resp
}

func (l *Listener) send(ctx context.Context, r *bus.RelayRequest) (bus.RelayResponse, error) {
	target := *l.forwardTo
	if sent, err := url.Parse(r.URL); err == nil && sent.RawQuery != "" {
		// A GET hook's payload is its query string.
		target.RawQuery = sent.RawQuery
	}
	var body io.Reader
	if len(r.Body) > 0 {
		body = strings.NewReader(string(r.Body))
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target.String(), body)
	if err != nil {
		return bus.RelayResponse{}, fmt.Errorf("build the local request: %w", err)
	}
	req.Header = r.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	resp, err := l.local.Do(req)
	if err != nil {
		return bus.RelayResponse{}, err
	}
	defer resp.Body.Close()
	kept, err := io.ReadAll(io.LimitReader(resp.Body, bus.MaxRelayResponseBody))
	if err != nil {
		return bus.RelayResponse{}, fmt.Errorf("read the local response: %w", err)
	}
	return bus.RelayResponse{Status: resp.StatusCode, Header: boundedHeader(resp.Header), Body: kept}, nil
}

// boundedHeader keeps the response headers that fit the relay's bound,
// whole values only.
func boundedHeader(h http.Header) http.Header {
	out := http.Header{}
	size := 0
	for name, values := range h {
		for _, v := range values {
			if size+len(name)+len(v) > bus.MaxRelayResponseHeaderBytes {
				return out
			}
			size += len(name) + len(v)
			out[name] = append(out[name], v)
		}
	}
	return out
}

// summarize reads what a callback is about from its payload, JSON or form.
func summarize(contentType string, body []byte) (event, call, status string) {
	fields := map[string]string{}
	if strings.Contains(contentType, "json") {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok {
					fields[k] = s
				}
			}
		}
	} else if values, err := url.ParseQuery(string(body)); err == nil {
		for k := range values {
			fields[k] = values.Get(k)
		}
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if fields[k] != "" {
				return fields[k]
			}
		}
		return ""
	}
	return first("hook_event", "type"), first("call_id", "thread_id", "id"), first("subtype", "hangup_cause")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func readFrame(ctx context.Context, conn *websocket.Conn, f *Frame) error {
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return err
	}
	if typ != websocket.MessageText {
		return errors.New("relay frame is not a text message")
	}
	if err := json.Unmarshal(data, f); err != nil {
		return fmt.Errorf("relay frame is not JSON: %w", err)
	}
	return nil
}

func writeFrame(ctx context.Context, conn *websocket.Conn, f Frame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode relay frame: %w", err)
	}
	return conn.Write(ctx, websocket.MessageText, data)
}
