package pbxsim

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behaviour is how the receiver answers a callback; it is the first path
// segment of the URL the hook points at (Receiver.URL).
type Behaviour string

// Behaviours of a simulated customer endpoint.
const (
	// OK answers 200 at once.
	OK Behaviour = "ok"
	// Fail answers 500.
	Fail Behaviour = "fail"
	// Hang never answers: the request is held until the caller gives up or
	// the receiver closes.
	Hang Behaviour = "hang"
	// Reset reads the request, then resets the TCP connection (RST).
	Reset Behaviour = "reset"
	// Slow answers 200 after ReceiverOptions.SlowDelay.
	Slow Behaviour = "slow"
	// Huge answers 200 with a body of ReceiverOptions.HugeBytes.
	Huge Behaviour = "huge"
	// FlakyThenOK answers 500 to the first ReceiverOptions.FlakyFailures
	// requests it gets and 200 from then on: an endpoint that was down and
	// came back, whose failed deliveries must succeed on a retry.
	FlakyThenOK Behaviour = "flaky"
)

// Behaviours lists every behaviour, for flags and docs.
var Behaviours = []Behaviour{OK, Fail, Hang, Reset, Slow, Huge, FlakyThenOK}

// maxRequestBody bounds what the receiver reads of one callback: more than
// any delivery pbxhooks may send.
const maxRequestBody = 4 << 20

// Call is one callback as the receiver saw it.
type Call struct {
	At        time.Time
	Behaviour Behaviour
	// WebhookID is the delivery id (bus.DeliveryID: event id + ":" + hook id).
	WebhookID string
	HookID    string
	// Status is what the receiver answered; 0 for Hang and Reset.
	Status int
	// Body is kept only with ReceiverOptions.KeepBodies.
	Body []byte
}

// EventID is the event part of the webhook id.
func (c Call) EventID() string {
	id, _, _ := strings.Cut(c.WebhookID, ":")
	return id
}

// ReceiverOptions configure a Receiver.
type ReceiverOptions struct {
	// KeepBodies keeps every request body in Calls (memory grows with load).
	KeepBodies bool
	// CountOnly records no Call at all, only counts, for million-delivery
	// runs; OnCall still sees each one.
	CountOnly bool
	// OnCall, when set, is called for every callback (concurrently).
	OnCall func(Call)
	// SlowDelay is how long Slow waits (default 2s).
	SlowDelay time.Duration
	// HugeBytes is the size of Huge's body (default 50 MB).
	HugeBytes int64
	// FlakyFailures is how many requests FlakyThenOK fails (default 5).
	FlakyFailures int64
}

// Receiver is an HTTP server on 127.0.0.1 standing in for customers'
// endpoints.
type Receiver struct {
	opts    ReceiverOptions
	srv     *http.Server
	ln      net.Listener
	closing chan struct{}
	once    sync.Once

	mu    sync.Mutex
	calls []Call

	sample       []byte
	sampleHeader http.Header

	flakyServed atomic.Int64
	count       atomic.Int64
	success     atomic.Int64
	active      atomic.Int64
}

// NewReceiver starts a receiver on a free 127.0.0.1 port.
func NewReceiver(opts ReceiverOptions) (*Receiver, error) {
	if opts.SlowDelay <= 0 {
		opts.SlowDelay = 2 * time.Second
	}
	if opts.HugeBytes <= 0 {
		opts.HugeBytes = 50 << 20
	}
	if opts.FlakyFailures <= 0 {
		opts.FlakyFailures = 5
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("pbxsim: receiver listen: %w", err)
	}
	r := &Receiver{opts: opts, ln: ln, closing: make(chan struct{})}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// URL is the callback URL that makes the receiver behave as b; path is
// appended (it may name the hook, for reading logs).
func (r *Receiver) URL(b Behaviour, path string) string {
	return "http://" + r.ln.Addr().String() + "/" + string(b) + "/" + strings.TrimPrefix(path, "/")
}

// Addr is the listen address.
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// Close releases hanging requests and stops the server.
func (r *Receiver) Close() {
	r.once.Do(func() {
		close(r.closing)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			_ = r.srv.Close()
		}
	})
}

// Calls returns a copy of every recorded call.
func (r *Receiver) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Sample is the body and headers of one callback (the first seen), so a
// baseline client can send the same bytes; nil before any callback.
func (r *Receiver) Sample() ([]byte, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sample, r.sampleHeader
}

// Count is how many callbacks arrived (every behaviour).
func (r *Receiver) Count() int64 { return r.count.Load() }

// Successes is how many callbacks were answered 2xx.
func (r *Receiver) Successes() int64 { return r.success.Load() }

// Active is how many requests are being served right now (hanging ones
// included).
func (r *Receiver) Active() int64 { return r.active.Load() }

// ResetRecords forgets every recorded call and count.
func (r *Receiver) ResetRecords() {
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()
	r.count.Store(0)
	r.success.Store(0)
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.active.Add(1)
	defer r.active.Add(-1)
	body, _ := io.ReadAll(io.LimitReader(req.Body, maxRequestBody))
	behaviour, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	call := Call{
		At:        time.Now(),
		Behaviour: Behaviour(behaviour),
		WebhookID: req.Header.Get("webhook-id"),
		HookID:    req.Header.Get("X-Hook-ID"),
	}
	if r.opts.KeepBodies {
		call.Body = body
	}
	r.mu.Lock()
	if r.sample == nil {
		r.sample, r.sampleHeader = body, req.Header.Clone()
	}
	r.mu.Unlock()
	switch call.Behaviour {
	case OK:
		call.Status = http.StatusOK
	case Fail:
		call.Status = http.StatusInternalServerError
	case Slow:
		call.Status = http.StatusOK
	case Huge:
		call.Status = http.StatusOK
	case FlakyThenOK:
		call.Status = http.StatusOK
		if r.flakyServed.Add(1) <= r.opts.FlakyFailures {
			call.Status = http.StatusInternalServerError
		}
	case Hang, Reset:
	default:
		call.Status = http.StatusNotFound
	}
	r.record(call)

	switch call.Behaviour {
	case Hang:
		select {
		case <-req.Context().Done():
		case <-r.closing:
			// Returning would send an empty 200: a released hang must
			// look like the endpoint dying, not answering.
			resetConnection(w)
		}
		return
	case Reset:
		resetConnection(w)
		return
	case Slow:
		select {
		case <-req.Context().Done():
			return
		case <-r.closing:
			return
		case <-time.After(r.opts.SlowDelay):
		}
		w.WriteHeader(call.Status)
	case Huge:
		writeHuge(w, r.opts.HugeBytes)
	default:
		w.WriteHeader(call.Status)
	}
}

func (r *Receiver) record(c Call) {
	r.count.Add(1)
	if c.Status >= 200 && c.Status < 300 {
		r.success.Add(1)
	}
	if r.opts.OnCall != nil {
		r.opts.OnCall(c)
	}
	if r.opts.CountOnly {
		return
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// resetConnection closes the client's connection with an RST instead of a
// FIN, which is what a crashing load balancer looks like.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func writeHuge(w http.ResponseWriter, size int64) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(size))
	w.WriteHeader(http.StatusOK)
	chunk := make([]byte, 64<<10)
	for written := int64(0); written < size; {
		n := min(int64(len(chunk)), size-written)
		if _, err := w.Write(chunk[:n]); err != nil {
			// The caller stopped reading: what a bounded client should do.
			return
		}
		written += n
	}
}

// Delivered summarises calls answered 2xx: how many per webhook id.
func Delivered(calls []Call) map[string]int {
	out := make(map[string]int, len(calls))
	for _, c := range calls {
		if c.Status >= 200 && c.Status < 300 {
			out[c.WebhookID]++
		}
	}
	return out
}
