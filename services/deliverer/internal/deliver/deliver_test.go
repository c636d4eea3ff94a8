package deliver_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/testenv"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/outbound"
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

func (r *receiver) received() []receivedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedRequest(nil), r.requests...)
}

type options struct {
	allow            []netip.Prefix
	schedule         deliver.RetrySchedule
	maxResponseBytes int
}

type harness struct {
	js jetstream.JetStream
	q  *store.Queries
}

// startDeliverer runs the deliverer's consumer, attempt writer and client on
// a private NATS server and database.
func startDeliverer(t *testing.T, opts options) *harness {
	t.Helper()
	_, _, js := testenv.JetStream(t)
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	if err := attempts.EnsurePartitions(t.Context(), q); err != nil {
		t.Fatalf("EnsurePartitions: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	writer := attempts.NewWriter(q, log, 0, 0)
	writerDone := make(chan struct{})
	go func() { writer.Run(); close(writerDone) }()

	d := deliver.New(deliver.Deps{
		JS:               js,
		Client:           outbound.NewClient(outbound.Config{ConnectTimeout: 5 * time.Second, Timeout: 10 * time.Second, AllowCIDRs: opts.allow}),
		Attempts:         writer,
		Log:              log,
		Schedule:         opts.schedule,
		MaxResponseBytes: opts.maxResponseBytes,
	})
	ctx, cancel := context.WithCancel(t.Context())
	processorDone := make(chan struct{})
	go func() {
		defer close(processorDone)
		if err := d.Processor(4, 30*time.Second).Run(ctx); err != nil {
			t.Errorf("processor: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-processorDone
		writer.Stop()
		<-writerDone
	})
	return &harness{js: js, q: q}
}

var loopbackAllowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newDelivery(url string, retries int32) *pbxhooksv1.Delivery {
	eventID, hookID := newID("ev"), newID("hk")
	return &pbxhooksv1.Delivery{
		Id: eventID + ":" + hookID, AccountId: newID("acct"), HookId: hookID, EventId: eventID,
		Method: "POST", Url: url + "/callback", ContentType: "application/json",
		Body: []byte(`{"hook_event":"channel_create","call_id":"c1"}`), Retries: retries,
	}
}

func (h *harness) publish(t *testing.T, d *pbxhooksv1.Delivery) {
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
	m.Header.Set(bus.HeaderMsgID, d.Id)
	if _, err := h.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatalf("publish delivery: %v", err)
	}
}

// waitAcked polls until the DELIVERIES work queue is empty: every delivery
// was acked or terminated, hence its outcome is final and recorded.
func (h *harness) waitAcked(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		stream, err := h.js.Stream(t.Context(), bus.StreamDeliveries)
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if stream.CachedInfo().State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("DELIVERIES still holds %d messages", stream.CachedInfo().State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// attemptsOf returns the delivery's attempt rows, oldest first.
func (h *harness) attemptsOf(t *testing.T, d *pbxhooksv1.Delivery) []store.Attempt {
	t.Helper()
	rows, err := h.q.ListAttempts(t.Context(), store.ListAttemptsParams{AccountID: d.AccountId, PageSize: 100})
	if err != nil {
		t.Fatalf("list attempts: %v", err)
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

func TestSuccessfulDeliveryReachesTheReceiverOnceAndIsRecorded(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, strings.Repeat("x", 100))
	h := startDeliverer(t, options{allow: loopbackAllowed, maxResponseBytes: 10})
	d := newDelivery(recv.srv.URL, 2)
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
	d := newDelivery(recv.srv.URL, 0)
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
	d := newDelivery(recv.srv.URL, 1)
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
	d := newDelivery(recv.srv.URL, 0)
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
	rows, err := h.q.ListAttempts(t.Context(), store.ListAttemptsParams{AccountID: "acct", PageSize: 10})
	if err != nil || len(rows) != 0 {
		t.Fatalf("attempts for a bad delivery: %d (%v)", len(rows), err)
	}
}
