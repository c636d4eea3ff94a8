package deliver_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/autodisable"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/endpoint"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/hookstate"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/outbound"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// receiver is the customer's endpoint: it records every request and answers
// with a fixed status and body.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []receivedRequest
}

type receivedRequest struct {
	method string
	path   string
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, status int, answer string) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, receivedRequest{req.Method, req.URL.Path, req.Header.Clone(), body})
		r.mu.Unlock()
		w.Header().Set("X-Receiver", "test")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// newReceiverFunc is a receiver whose answers the test chooses.
func newReceiverFunc(t *testing.T, answer http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, receivedRequest{req.Method, req.URL.Path, req.Header.Clone(), body})
		r.mu.Unlock()
		answer(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func timestampBefore(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t.Add(-time.Second)) }

func (r *receiver) received() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.requests...)
}

type options struct {
	allow            []netip.Prefix
	schedule         deliver.RetrySchedule
	maxResponseBytes int
	gate             endpoint.Config
	rule             autodisable.Rule
	workers          int
	timeout          time.Duration
}

type harness struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	q    *store.Queries
	pool *pgxpool.Pool
}

// startDeliverer runs the deliverer's consumer, attempt writer, hook cache,
// auto-disable tracker and client on a private NATS server and database.
func startDeliverer(t *testing.T, opts options) *harness {
	t.Helper()
	_, nc, js := testenv.JetStream(t)
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	if err := attempts.EnsurePartitions(t.Context(), q); err != nil {
		t.Fatalf("EnsurePartitions: %v", err)
	}
	h := &harness{nc: nc, js: js, q: q, pool: pool}
	h.startReplica(t, opts)
	return h
}

// startReplica runs one more deliverer (a replica, with its own gate, hook
// cache and attempt writer) on the harness's NATS server and database.
func (h *harness) startReplica(t *testing.T, opts options) {
	t.Helper()
	nc, js, q := h.nc, h.js, h.q
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	writer := attempts.NewWriter(q, log, 0, 0)
	writerDone := make(chan struct{})
	go func() { writer.Run(); close(writerDone) }()
	hooks := hookstate.New(q, 0, nil)
	if err := hooks.Subscribe(nc); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	timeout := opts.timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	d := deliver.New(deliver.Deps{
		JS:               js,
		Client:           outbound.NewClient(outbound.Config{ConnectTimeout: 5 * time.Second, Timeout: timeout, AllowCIDRs: opts.allow}),
		Attempts:         writer,
		Counter:          q,
		Hooks:            hooks,
		Failures:         autodisable.New(q, nc, opts.rule, log, nil),
		Gate:             endpoint.NewGate(opts.gate),
		Log:              log,
		Schedule:         opts.schedule,
		MaxResponseBytes: opts.maxResponseBytes,
	})
	workers := opts.workers
	if workers == 0 {
		workers = 4
	}
	ctx, cancel := context.WithCancel(t.Context())
	processorDone := make(chan struct{})
	parkingDone := make(chan struct{})
	go func() {
		defer close(processorDone)
		if err := d.Processor(workers, 2*timeout+10*time.Second, 0).Run(ctx); err != nil {
			t.Errorf("processor: %v", err)
		}
	}()
	go func() {
		defer close(parkingDone)
		if err := d.RunParking(ctx, deliver.ParkingConfig{AckWait: 2*timeout + 10*time.Second, ScanEvery: 200 * time.Millisecond}); err != nil {
			t.Errorf("parking: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-processorDone
		<-parkingDone
		writer.Stop()
		<-writerDone
		hooks.Close()
	})
}

var loopbackAllowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// newHook stores an enabled POST hook of a new account calling url.
func (h *harness) newHook(t *testing.T, url string, retries int32) store.Hook {
	t.Helper()
	accountID := newID("acct")
	if err := h.q.EnsureAccount(t.Context(), accountID); err != nil {
		t.Fatalf("account: %v", err)
	}
	hook, err := h.q.InsertHook(t.Context(), store.InsertHookParams{
		ID: newID("hk"), AccountID: accountID, Name: "test", Uri: url + "/callback", HttpVerb: "post",
		Hook: "channel_create", Retries: retries, CustomData: json.RawMessage(`{}`), Enabled: true,
		Format: "json", CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{}, Secret: newSecret(),
	})
	if err != nil {
		t.Fatalf("create hook: %v", err)
	}
	return hook
}

func newDelivery(hook store.Hook) *pbxhooksv1.Delivery {
	eventID := newID("ev")
	return &pbxhooksv1.Delivery{
		Id: eventID + ":" + hook.ID, AccountId: hook.AccountID, HookId: hook.ID, EventId: eventID,
		Method: strings.ToUpper(hook.HttpVerb), Url: hook.Uri, ContentType: "application/json",
		Body: []byte(`{"hook_event":"channel_create","call_id":"c1"}`), Retries: hook.Retries,
		CreatedAt: timestamppb.Now(),
	}
}

// newDeliveries makes n deliveries for hook, each of its own event.
func newDeliveries(hook store.Hook, n int) []*pbxhooksv1.Delivery {
	out := make([]*pbxhooksv1.Delivery, 0, n)
	for range n {
		out = append(out, newDelivery(hook))
	}
	return out
}

func (h *harness) publish(t *testing.T, d *pbxhooksv1.Delivery) {
	t.Helper()
	h.publishAs(t, d, d.Id)
}

// publishAs publishes d with message id msgID (a resend has one of its own).
func (h *harness) publishAs(t *testing.T, d *pbxhooksv1.Delivery, msgID string) {
	t.Helper()
	subject, err := bus.DeliverySubject(d.AccountId, d.HookId)
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	data, err := proto.Marshal(d)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(bus.HeaderMsgID, msgID)
	if _, err := h.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatalf("publish delivery: %v", err)
	}
}

// waitAcked polls until the DELIVERIES work queue is empty: every delivery
// was acked or terminated, hence its outcome is final and recorded.
func (h *harness) waitAcked(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "DELIVERIES to drain", func() (bool, string) {
		stream, err := h.js.Stream(t.Context(), bus.StreamDeliveries)
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		n := stream.CachedInfo().State.Msgs
		return n == 0, fmt.Sprintf("%d messages left", n)
	})
}

// attemptsOf returns the delivery's attempt rows, oldest first.
func (h *harness) attemptsOf(t *testing.T, d *pbxhooksv1.Delivery) []store.Attempt {
	t.Helper()
	rows, err := h.q.ListAttemptsFiltered(t.Context(), store.ListAttemptsFilteredParams{AccountID: d.AccountId, PageSize: 1000})
	if err != nil {
		t.Fatalf("list attempts: %v", err)
	}
	var out []store.Attempt
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].DeliveryID == d.Id {
			out = append(out, rows[i])
		}
	}
	return out
}

func (h *harness) hook(t *testing.T, id string) store.Hook {
	t.Helper()
	hook, err := h.q.GetHookByID(t.Context(), id)
	if err != nil {
		t.Fatalf("get hook %s: %v", id, err)
	}
	return hook
}

func TestSuccessfulDeliveryReachesTheReceiverOnceAndIsRecorded(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, strings.Repeat("x", 100))
	h := startDeliverer(t, options{allow: loopbackAllowed, maxResponseBytes: 10})
	d := newDelivery(h.newHook(t, recv.srv.URL, 2))
	h.publish(t, d)
	h.waitAcked(t)

	got := recv.received()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want exactly 1", len(got))
	}
	req := got[0]
	if req.method != "POST" || req.path != "/callback" || string(req.body) != string(d.Body) {
		t.Errorf("request = %s %s %s", req.method, req.path, req.body)
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json",
		"X-Hook-ID":    d.HookId,
		"X-Account-ID": d.AccountId,
		"webhook-id":   d.Id,
		"User-Agent":   "pbxhooks/1",
	} {
		if v := req.header.Get(name); v != want {
			t.Errorf("header %s = %q, want %q", name, v, want)
		}
	}

	rows := h.attemptsOf(t, d)
	if len(rows) != 1 {
		t.Fatalf("%d attempt rows, want 1", len(rows))
	}
	a := rows[0]
	if a.Result != "success" || a.Attempt != 1 || a.RetriesLeft != 2 || a.HookID != d.HookId || a.EventID != d.EventId || a.DeliveryID != d.Id {
		t.Errorf("attempt = %+v", a)
	}
	if a.RequestMethod != "POST" || a.RequestUrl != d.Url || a.ResponseStatus == nil || *a.ResponseStatus != 200 || a.ClientError != nil {
		t.Errorf("attempt request/response = %s %s status %v client error %v", a.RequestMethod, a.RequestUrl, a.ResponseStatus, a.ClientError)
	}
	if a.ResponseBody == nil || *a.ResponseBody != "xxxxxxxxxx" {
		t.Errorf("response body = %v, want it truncated to 10 bytes", a.ResponseBody)
	}
	var reqHeaders, respHeaders map[string]string
	if err := json.Unmarshal(a.RequestHeaders, &reqHeaders); err != nil || reqHeaders["Webhook-Id"] != d.Id || reqHeaders["X-Hook-Id"] != d.HookId {
		t.Errorf("request headers = %s (%v)", a.RequestHeaders, err)
	}
	if err := json.Unmarshal(a.ResponseHeaders, &respHeaders); err != nil || respHeaders["X-Receiver"] != "test" {
		t.Errorf("response headers = %s (%v)", a.ResponseHeaders, err)
	}
}

func TestFailureWithoutRetriesIsRecordedAndAcked(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusInternalServerError, "boom")
	h := startDeliverer(t, options{allow: loopbackAllowed})
	d := newDelivery(h.newHook(t, recv.srv.URL, 0))
	h.publish(t, d)
	h.waitAcked(t)

	if n := len(recv.received()); n != 1 {
		t.Fatalf("receiver got %d requests, want 1", n)
	}
	rows := h.attemptsOf(t, d)
	if len(rows) != 1 {
		t.Fatalf("%d attempt rows, want 1", len(rows))
	}
	a := rows[0]
	if a.Result != "failure" || a.Reason != "HTTP 500" || a.RetriesLeft != 0 || a.ResponseStatus == nil || *a.ResponseStatus != 500 || a.ResponseBody == nil || *a.ResponseBody != "boom" {
		t.Errorf("attempt = result %s reason %q retries left %d status %v body %v", a.Result, a.Reason, a.RetriesLeft, a.ResponseStatus, a.ResponseBody)
	}
}

func TestRetriesFollowTheScheduleThenGiveUp(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusServiceUnavailable, "")
	h := startDeliverer(t, options{
		allow:    loopbackAllowed,
		schedule: deliver.RetrySchedule{Steps: []time.Duration{10 * time.Millisecond}, Then: 10 * time.Millisecond},
	})
	d := newDelivery(h.newHook(t, recv.srv.URL, 1))
	h.publish(t, d)
	h.waitAcked(t)

	got := recv.received()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (the first attempt and one retry)", len(got))
	}
	if got[0].header.Get("webhook-id") != d.Id || got[1].header.Get("webhook-id") != d.Id {
		t.Errorf("a retry changed the webhook-id: %q then %q", got[0].header.Get("webhook-id"), got[1].header.Get("webhook-id"))
	}
	rows := h.attemptsOf(t, d)
	if len(rows) != 2 {
		t.Fatalf("%d attempt rows, want 2", len(rows))
	}
	for i, a := range rows {
		wantAttempt, wantLeft := int32(i+1), int32(1-i)
		if a.Result != "failure" || a.Attempt != wantAttempt || a.RetriesLeft != wantLeft {
			t.Errorf("row %d: result %s attempt %d retries left %d, want failure %d %d", i, a.Result, a.Attempt, a.RetriesLeft, wantAttempt, wantLeft)
		}
	}
}

func TestBlockedDestinationIsRecordedAsRefused(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, "")
	h := startDeliverer(t, options{}) // no allow list: loopback is blocked
	d := newDelivery(h.newHook(t, recv.srv.URL, 0))
	h.publish(t, d)
	h.waitAcked(t)

	if n := len(recv.received()); n != 0 {
		t.Fatalf("a blocked destination received %d requests", n)
	}
	rows := h.attemptsOf(t, d)
	if len(rows) != 1 {
		t.Fatalf("%d attempt rows, want 1", len(rows))
	}
	a := rows[0]
	if a.Result != "failure" || a.Reason != "refused: destination 127.0.0.1 is in a blocked range (loopback)" || a.ClientError == nil || a.ResponseStatus != nil {
		t.Errorf("attempt = result %s reason %q client error %v status %v", a.Result, a.Reason, a.ClientError, a.ResponseStatus)
	}
}

func TestUnusableDeliveryIsTerminated(t *testing.T) {
	t.Parallel()
	h := startDeliverer(t, options{allow: loopbackAllowed})
	if _, err := h.js.Publish(t.Context(), "deliveries.acct.hook", []byte("\xff\xff not protobuf")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	h.waitAcked(t)
	rows, err := h.q.ListAttemptsFiltered(t.Context(), store.ListAttemptsFilteredParams{AccountID: "acct", PageSize: 10})
	if err != nil || len(rows) != 0 {
		t.Fatalf("attempts for a bad delivery: %d (%v)", len(rows), err)
	}
}
