package deliver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/autodisable"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/endpoint"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// hangingReceiver holds every request until the test ends, counting the
// requests in flight and the most ever in flight at once.
type hangingReceiver struct {
	srv         *httptest.Server
	release     chan struct{}
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	total       atomic.Int64
}

func newHangingReceiver(t *testing.T) *hangingReceiver {
	t.Helper()
	r := &hangingReceiver{release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.inFlight.Add(1)
		r.total.Add(1)
		for {
			m := r.maxInFlight.Load()
			if n <= m || r.maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		defer r.inFlight.Add(-1)
		select {
		case <-r.release:
		case <-req.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	// Cleanups run last-registered first: release the held requests, then
	// close the server (Close waits for them).
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() { close(r.release) })
	return r
}

// publishAsync publishes many deliveries and waits for every PubAck.
func publishAsync(t *testing.T, js jetstream.JetStream, deliveries []*pbxhooksv1.Delivery) {
	t.Helper()
	futures := make([]jetstream.PubAckFuture, 0, len(deliveries))
	for _, d := range deliveries {
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
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatalf("publish: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no PubAck")
		}
	}
}

// A hanging endpoint with a large backlog must hold no more than its
// per-endpoint cap of workers, and deliveries to a healthy endpoint queued
// behind that backlog must still all arrive.
func TestHangingEndpointBacklogDoesNotDelayAHealthyEndpoint(t *testing.T) {
	t.Parallel()
	const (
		backlog  = 2000
		healthy  = 50
		perCap   = 8
		workers  = 16
		deadline = 20 * time.Second
	)
	h := startDeliverer(t, options{
		allow:   loopbackAllowed,
		workers: workers,
		// Longer than the test: the hanging requests never time out, so
		// the cap alone (not the breaker) must protect the workers.
		timeout: time.Minute,
		gate:    endpoint.Config{MaxInFlight: perCap},
	})
	// Made after the deliverer, so its cleanup (releasing the held
	// requests) runs before the deliverer's drain waits for them.
	hanging := newHangingReceiver(t)
	good := newReceiver(t, http.StatusOK, "")
	deadHook := h.newHook(t, hanging.srv.URL, 0)
	goodHook := h.newHook(t, good.srv.URL, 0)

	// The whole backlog is queued first, the healthy deliveries behind it.
	publishAsync(t, h.js, newDeliveries(deadHook, backlog))
	publishAsync(t, h.js, newDeliveries(goodHook, healthy))
	start := time.Now()

	testenv.Eventually(t, deadline, "every healthy delivery", func() (bool, string) {
		n := len(good.received())
		return n >= healthy, "healthy deliveries received: " + strconv.Itoa(n)
	})
	t.Logf("all %d healthy deliveries arrived %s after being queued behind %d hanging ones", healthy, time.Since(start).Round(time.Millisecond), backlog)
	// The hanging endpoint's backlog left the shared consumer for its own
	// parked backlog: nothing of it waits on DELIVERIES but the requests
	// hanging, so it is not fetched again and again ahead of other
	// endpoints' deliveries.
	testenv.Eventually(t, deadline, "the dead backlog parked", func() (bool, string) {
		shared := consumerInfo(t, h.js, bus.StreamDeliveries, bus.ConsumerDeliverer)
		parked := testenv.StreamMsgs(t, h.js, bus.StreamParked)
		state := fmt.Sprintf("shared consumer: %d pending, %d unacked; parked: %d", shared.NumPending, shared.NumAckPending, parked)
		return shared.NumPending == 0 && shared.NumAckPending <= perCap && parked+uint64(shared.NumAckPending) == backlog, state
	})
	// Each delivery was fetched from the shared consumer at most twice:
	// once, and once more if it was handed back in the first moments before
	// the endpoint counted as hanging; never again and again.
	if shared := consumerInfo(t, h.js, bus.StreamDeliveries, bus.ConsumerDeliverer); shared.Delivered.Consumer > 2*(backlog+healthy) {
		t.Fatalf("the shared consumer delivered %d times for %d deliveries; the dead backlog should be parked, not handed back",
			shared.Delivered.Consumer, backlog+healthy)
	}
	if got := hanging.maxInFlight.Load(); got > perCap {
		t.Fatalf("the hanging endpoint had %d requests in flight at once, cap is %d", got, perCap)
	}
	if got := hanging.total.Load(); got == 0 || got > perCap {
		t.Fatalf("the hanging endpoint received %d requests; want 1..%d while they hang", got, perCap)
	}
	// Every healthy delivery's success is recorded (ack follows record).
	testenv.Eventually(t, deadline, "healthy attempt rows", func() (bool, string) {
		rows, err := h.q.ListAttemptsFiltered(t.Context(), store.ListAttemptsFilteredParams{AccountID: goodHook.AccountID, PageSize: 1000})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		return len(rows) == healthy, strconv.Itoa(len(rows))
	})
	distinct := map[string]bool{}
	for _, r := range good.received() {
		distinct[r.header.Get("webhook-id")] = true
	}
	if len(distinct) != healthy {
		t.Fatalf("%d distinct healthy deliveries arrived, want %d", len(distinct), healthy)
	}
}

// Endpoints that all start hanging at once cannot take the shared
// consumer's workers: before answering, a new endpoint gets one shared
// request at a time, and once silent its deliveries are served by the
// parked workers. Here six hanging endpoints with a cap of 8 each would, at
// their cap, hold 48 requests, three times the 16 shared workers.
func TestManyHangingEndpointsDoNotHoldTheSharedWorkers(t *testing.T) {
	t.Parallel()
	const (
		endpoints = 6
		perDead   = 50
		healthy   = 50
		perCap    = 8
		workers   = 16
		deadline  = 20 * time.Second
	)
	h := startDeliverer(t, options{
		allow:   loopbackAllowed,
		workers: workers,
		// Longer than the test: only isolation, not timeouts, frees workers.
		timeout: time.Minute,
		gate:    endpoint.Config{MaxInFlight: perCap},
	})
	var dead []*pbxhooksv1.Delivery
	var hanging []*hangingReceiver
	for range endpoints {
		r := newHangingReceiver(t)
		hanging = append(hanging, r)
		dead = append(dead, newDeliveries(h.newHook(t, r.srv.URL, 0), perDead)...)
	}
	good := newReceiver(t, http.StatusOK, "")
	goodHook := h.newHook(t, good.srv.URL, 0)
	publishAsync(t, h.js, dead)
	publishAsync(t, h.js, newDeliveries(goodHook, healthy))
	testenv.Eventually(t, deadline, "every healthy delivery", func() (bool, string) {
		n := len(good.received())
		return n >= healthy, "healthy deliveries received: " + strconv.Itoa(n)
	})
	for i, r := range hanging {
		if got := r.maxInFlight.Load(); got > perCap {
			t.Fatalf("hanging endpoint %d had %d requests in flight, cap is %d", i, got, perCap)
		}
	}
}

// With the breaker open, an endpoint that fails fast is left alone: its
// deliveries are parked without attempts or consumed retries, and nothing
// of them is fetched until the cooldown ends.
func TestOpenBreakerParksWithoutAttempts(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	recv := newReceiverFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	})
	h := startDeliverer(t, options{
		allow: loopbackAllowed,
		// One failure opens the breaker for longer than the test.
		gate: endpoint.Config{MaxInFlight: 1, Failures: 1, Cooldown: time.Hour},
	})
	hook := h.newHook(t, recv.srv.URL, 5)
	first := newDelivery(hook)
	h.publish(t, first)
	testenv.Eventually(t, 10*time.Second, "the first attempt row", func() (bool, string) {
		return len(h.attemptsOf(t, first)) == 1, ""
	})
	later := newDeliveries(hook, 20)
	publishAsync(t, h.js, later)
	// The first waits for its retry on the shared consumer; the 20 later
	// ones are parked.
	testenv.Eventually(t, 10*time.Second, "the later deliveries parked", func() (bool, string) {
		n := testenv.StreamMsgs(t, h.js, bus.StreamParked)
		return n == 20, fmt.Sprintf("%d parked", n)
	})
	if n := calls.Load(); n != 1 {
		t.Fatalf("endpoint called %d times while its breaker was open, want 1", n)
	}
	for _, d := range later {
		if rows := h.attemptsOf(t, d); len(rows) != 0 {
			t.Fatalf("a parked delivery has attempt rows: %+v", rows)
		}
	}
	parked := consumerInfo(t, h.js, bus.StreamParked, bus.ParkedConsumer(endpoint.Key(recv.srv.URL)))
	if parked.Delivered.Consumer != 0 {
		t.Fatalf("%d parked deliveries were fetched while the breaker was open", parked.Delivered.Consumer)
	}
}

// A parked backlog is delivered once its endpoint recovers: every delivery
// once as a success, retries numbered on from the attempts made before it
// was parked, and nothing left parked.
func TestParkedBacklogDrainsWhenTheEndpointRecovers(t *testing.T) {
	t.Parallel()
	const n = 30
	var healthy atomic.Bool
	recv := newReceiverFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		if healthy.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	})
	h := startDeliverer(t, options{
		allow:    loopbackAllowed,
		gate:     endpoint.Config{MaxInFlight: 4, Failures: 2, Cooldown: 300 * time.Millisecond},
		schedule: deliver.RetrySchedule{Then: 100 * time.Millisecond},
		rule:     autodisable.Rule{Count: 1000, Expiry: time.Minute},
	})
	hook := h.newHook(t, recv.srv.URL, 50)
	all := newDeliveries(hook, n)
	publishAsync(t, h.js, all)
	testenv.Eventually(t, 10*time.Second, "deliveries parked", func() (bool, string) {
		p := testenv.StreamMsgs(t, h.js, bus.StreamParked)
		return p > 0, fmt.Sprintf("%d parked", p)
	})
	healthy.Store(true)
	testenv.Eventually(t, 20*time.Second, "every delivery to succeed", func() (bool, string) {
		ok := 0
		for _, d := range all {
			rows := h.attemptsOf(t, d)
			if len(rows) > 0 && rows[len(rows)-1].Result == "success" {
				ok++
			}
		}
		return ok == n, fmt.Sprintf("%d of %d succeeded", ok, n)
	})
	for _, d := range all {
		rows := h.attemptsOf(t, d)
		for i, r := range rows {
			if int(r.Attempt) != i+1 || (i < len(rows)-1 && r.Result != "failure") {
				t.Fatalf("delivery %s attempts out of order: row %d is attempt %d, %s", d.Id, i, r.Attempt, r.Result)
			}
		}
	}
	successes := map[string]int{}
	for _, r := range recv.received() {
		successes[r.header.Get("webhook-id")]++
	}
	if len(successes) != n {
		t.Fatalf("%d distinct webhook-ids reached the receiver, want %d", len(successes), n)
	}
	testenv.Eventually(t, 10*time.Second, "PARKED to empty", func() (bool, string) {
		p := testenv.StreamMsgs(t, h.js, bus.StreamParked)
		return p == 0, fmt.Sprintf("%d parked", p)
	})
}

// A backlog one replica parked is drained by another: here the first
// replica's breaker stays open for an hour, so only the second, which finds
// the parked endpoint by scanning, can deliver it.
func TestAnotherReplicaDrainsWhatOneParked(t *testing.T) {
	t.Parallel()
	const n = 20
	var calls atomic.Int64
	recv := newReceiverFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := startDeliverer(t, options{
		allow: loopbackAllowed,
		gate:  endpoint.Config{MaxInFlight: 1, Failures: 1, Cooldown: time.Hour},
	})
	hook := h.newHook(t, recv.srv.URL, 0)
	first := newDelivery(hook)
	h.publish(t, first)
	testenv.Eventually(t, 10*time.Second, "the failed first attempt", func() (bool, string) {
		return len(h.attemptsOf(t, first)) == 1, ""
	})
	later := newDeliveries(hook, n)
	publishAsync(t, h.js, later)
	testenv.Eventually(t, 10*time.Second, "the first replica to park them", func() (bool, string) {
		p := testenv.StreamMsgs(t, h.js, bus.StreamParked)
		return p == n, fmt.Sprintf("%d parked", p)
	})

	h.startReplica(t, options{allow: loopbackAllowed})
	testenv.Eventually(t, 20*time.Second, "the second replica to deliver them", func() (bool, string) {
		ok := 0
		for _, d := range later {
			if rows := h.attemptsOf(t, d); len(rows) == 1 && rows[0].Result == "success" {
				ok++
			}
		}
		return ok == n, fmt.Sprintf("%d of %d delivered", ok, n)
	})
	if got := calls.Load(); got != n+1 {
		t.Fatalf("receiver called %d times, want %d (one failure, then each parked delivery once)", got, n+1)
	}
}

func consumerInfo(t *testing.T, js jetstream.JetStream, stream, name string) *jetstream.ConsumerInfo {
	t.Helper()
	cons, err := js.Consumer(context.Background(), stream, name)
	if err != nil {
		t.Fatalf("consumer %s on %s: %v", name, stream, err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatalf("consumer %s info: %v", name, err)
	}
	return info
}

func TestHostnameResolvingToLoopbackIsRefused(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, "")
	h := startDeliverer(t, options{}) // loopback not allowed
	hook := h.newHook(t, strings.Replace(recv.srv.URL, "127.0.0.1", "localhost", 1), 0)
	d := newDelivery(hook)
	h.publish(t, d)
	h.waitAcked(t)
	if n := len(recv.received()); n != 0 {
		t.Fatalf("localhost received %d requests", n)
	}
	rows := h.attemptsOf(t, d)
	if len(rows) != 1 {
		t.Fatalf("%d attempt rows, want 1", len(rows))
	}
	// localhost may resolve to ::1 first; either loopback is refused.
	if a := rows[0]; a.Result != "failure" || !strings.HasPrefix(a.Reason, "refused: destination ") ||
		!strings.HasSuffix(a.Reason, "is in a blocked range (loopback)") || a.ResponseStatus != nil {
		t.Fatalf("attempt = result %s reason %q status %v", a.Result, a.Reason, a.ResponseStatus)
	}
}

// An endpoint's parked consumer deleted while its backlog drains (by an
// operator, or by the server after parkedConsumerIdle) is made again by the
// next scan: no slot of the lane waits forever for a wake-up that never
// comes, and the rest of the backlog is delivered.
func TestParkedBacklogDrainsAfterItsConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	const n = 40
	var healthy atomic.Bool
	recv := newReceiverFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		time.Sleep(50 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	})
	h := startDeliverer(t, options{
		allow:    loopbackAllowed,
		gate:     endpoint.Config{MaxInFlight: 4, Failures: 2, Cooldown: 300 * time.Millisecond},
		schedule: deliver.RetrySchedule{Then: 100 * time.Millisecond},
		rule:     autodisable.Rule{Count: 1000, Expiry: time.Minute},
	})
	hook := h.newHook(t, recv.srv.URL, 50)
	all := newDeliveries(hook, n)
	publishAsync(t, h.js, all)
	testenv.Eventually(t, 10*time.Second, "deliveries parked", func() (bool, string) {
		p := testenv.StreamMsgs(t, h.js, bus.StreamParked)
		return p >= n/2, fmt.Sprintf("%d parked", p)
	})
	healthy.Store(true)
	succeeded := func() int {
		ok := 0
		for _, d := range all {
			rows := h.attemptsOf(t, d)
			if len(rows) > 0 && rows[len(rows)-1].Result == "success" {
				ok++
			}
		}
		return ok
	}
	testenv.Eventually(t, 20*time.Second, "the backlog to start draining", func() (bool, string) {
		ok := succeeded()
		return ok >= 4, fmt.Sprintf("%d of %d succeeded", ok, n)
	})
	key := endpoint.Key(recv.srv.URL)
	if err := h.js.DeleteConsumer(t.Context(), bus.StreamParked, bus.ParkedConsumer(key)); err != nil {
		t.Fatalf("delete the parked consumer: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "every delivery to succeed", func() (bool, string) {
		ok := succeeded()
		return ok == n, fmt.Sprintf("%d of %d succeeded; %d parked", ok, n, testenv.StreamMsgs(t, h.js, bus.StreamParked))
	})
}
