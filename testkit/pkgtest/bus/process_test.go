package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const testSubject = "events.acct1.call.incoming_call.ringing"

// delivery is what a handler saw of one delivery.
type delivery struct {
	data         string
	numDelivered uint64
	at           time.Time
}

// recorder is a handler whose answer per delivery is chosen by the test.
type recorder struct {
	mu     sync.Mutex
	seen   []delivery
	answer func(n uint64) error
}

func (r *recorder) handle(_ context.Context, msg jetstream.Msg) error {
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	r.mu.Lock()
	r.seen = append(r.seen, delivery{data: string(msg.Data()), numDelivered: md.NumDelivered, at: time.Now()})
	r.mu.Unlock()
	return r.answer(md.NumDelivered)
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.seen...)
}

func newProcessor(js jetstream.JetStream, durable string, h bus.Handler) *bus.Processor {
	return &bus.Processor{
		JS: js,
		Spec: bus.ConsumerSpec{
			Stream:         bus.StreamEvents,
			Durable:        durable,
			FilterSubjects: []string{bus.SubjectEventsAll},
			AckWait:        30 * time.Second,
			MaxAckPending:  16,
		},
		Handler: h,
		Log:     slog.New(slog.DiscardHandler),
		Workers: 2,
	}
}

// run starts p. cancel cancels Run's context; wait then waits for Run to
// return. The test's cleanup does both.
func run(t *testing.T, p *bus.Processor) (cancel func(), wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	var runErr error
	wait = func() error {
		once.Do(func() {
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("Run did not return after cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	return cancel, wait
}

func publish(t *testing.T, js jetstream.JetStream, data string, header nats.Header) {
	t.Helper()
	msg := nats.NewMsg(testSubject)
	msg.Data = []byte(data)
	for k, v := range header {
		msg.Header[k] = v
	}
	if _, err := js.PublishMsg(t.Context(), msg); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// settled holds once the consumer has nothing pending or awaiting an ack and
// its ack floor has passed stream sequence seq: the message was acked or
// terminated, and will not be delivered again.
func settled(t *testing.T, js jetstream.JetStream, durable string, seq uint64) func() (bool, string) {
	return func() (bool, string) {
		c, err := js.Consumer(t.Context(), bus.StreamEvents, durable)
		if err != nil {
			return false, err.Error()
		}
		info, err := c.Info(t.Context())
		if err != nil {
			return false, err.Error()
		}
		state := fmt.Sprintf("pending=%d ack_pending=%d ack_floor=%d redelivered=%d", info.NumPending, info.NumAckPending, info.AckFloor.Stream, info.NumRedelivered)
		return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= seq, state
	}
}

func TestProcessorAcksWhenHandlerSucceeds(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	rec := &recorder{answer: func(uint64) error { return nil }}
	run(t, newProcessor(js, "ok", rec.handle))

	publish(t, js, "one", nil)
	testenv.Eventually(t, 10*time.Second, "the message to be acked", settled(t, js, "ok", 1))
	got := rec.deliveries()
	if len(got) != 1 || got[0].data != "one" || got[0].numDelivered != 1 {
		t.Fatalf("deliveries = %+v, want one delivery of %q", got, "one")
	}
}

func TestProcessorDeadLettersAndTerminatesPermanentErrors(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	rec := &recorder{answer: func(uint64) error {
		return bus.Permanent("unknown call status", errors.New("status \"exploded\""))
	}}
	p := newProcessor(js, "perm", rec.handle)
	p.DeadLetterSubject = bus.SubjectDeadLetter
	// A retry would come back at once: a terminated message must not.
	p.RetryDelay = func(uint64) time.Duration { return time.Millisecond }
	run(t, p)

	publish(t, js, "bad input", nats.Header{"X-Pbx": []string{"kazoo"}, bus.HeaderMsgID: []string{"source-id"}})
	testenv.Eventually(t, 10*time.Second, "the message to be terminated", settled(t, js, "perm", 1))

	dl, err := js.Stream(t.Context(), bus.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	copied, err := dl.GetLastMsgForSubject(t.Context(), bus.SubjectDeadLetter)
	if err != nil {
		t.Fatalf("dead-letter copy: %v", err)
	}
	if string(copied.Data) != "bad input" {
		t.Errorf("dead letter body = %q", copied.Data)
	}
	if got, want := copied.Header.Get(bus.HeaderDeadLetterReason), `unknown call status: status "exploded"`; got != want {
		t.Errorf("reason header = %q, want %q", got, want)
	}
	if got := copied.Header.Get(bus.HeaderDeadLetterSource); got != testSubject {
		t.Errorf("source header = %q, want %q", got, testSubject)
	}
	if got := copied.Header.Get("X-Pbx"); got != "kazoo" {
		t.Errorf("original header not carried over: X-Pbx = %q", got)
	}
	if got := copied.Header.Get(bus.HeaderMsgID); got == "source-id" || got == "" {
		t.Errorf("dead letter msg id = %q, want one of its own", got)
	}
	if got := rec.deliveries(); len(got) != 1 {
		t.Fatalf("handler saw %d deliveries, want 1 (terminated, not redelivered): %+v", len(got), got)
	}
}

func TestProcessorRedeliversAfterRetryDelay(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	rec := &recorder{answer: func(n uint64) error {
		if n == 1 {
			return errors.New("database unavailable")
		}
		return nil
	}}
	var askedMu sync.Mutex
	var asked []uint64
	const delay = 100 * time.Millisecond
	p := newProcessor(js, "retry", rec.handle)
	p.RetryDelay = func(n uint64) time.Duration {
		askedMu.Lock()
		asked = append(asked, n)
		askedMu.Unlock()
		return delay
	}
	run(t, p)

	publish(t, js, "flaky", nil)
	testenv.Eventually(t, 10*time.Second, "the redelivered message to be acked", settled(t, js, "retry", 1))
	got := rec.deliveries()
	if len(got) != 2 || got[0].numDelivered != 1 || got[1].numDelivered != 2 {
		t.Fatalf("deliveries = %+v, want deliveries 1 and 2", got)
	}
	if gap := got[1].at.Sub(got[0].at); gap < delay {
		t.Errorf("redelivered after %s, before the %s RetryDelay", gap, delay)
	}
	askedMu.Lock()
	defer askedMu.Unlock()
	if len(asked) != 1 || asked[0] != 1 {
		t.Errorf("RetryDelay asked for %v, want [1]", asked)
	}
}

func TestProcessorHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	const delay = 150 * time.Millisecond
	rec := &recorder{answer: func(n uint64) error {
		if n == 1 {
			return bus.RetryAfter(delay, errors.New("endpoint said 429"))
		}
		return nil
	}}
	p := newProcessor(js, "retryafter", rec.handle)
	// Were RetryAfter ignored, the redelivery would not come within the
	// test's deadline.
	p.RetryDelay = func(uint64) time.Duration { return time.Hour }
	run(t, p)

	publish(t, js, "later", nil)
	testenv.Eventually(t, 10*time.Second, "the redelivered message to be acked", settled(t, js, "retryafter", 1))
	got := rec.deliveries()
	if len(got) != 2 || got[1].numDelivered != 2 {
		t.Fatalf("deliveries = %+v, want 2", got)
	}
	if gap := got[1].at.Sub(got[0].at); gap < delay {
		t.Errorf("redelivered after %s, before the %s asked for", gap, delay)
	}
}

func TestProcessorDrainLetsInFlightHandlerAck(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	started := make(chan struct{})
	release := make(chan struct{})
	var finished bool
	var mu sync.Mutex
	handler := func(ctx context.Context, msg jetstream.Msg) error {
		close(started)
		<-release
		mu.Lock()
		finished = true
		mu.Unlock()
		// The handler's context must survive the cancellation of Run's.
		return ctx.Err()
	}
	cancel, wait := run(t, newProcessor(js, "drain", handler))

	publish(t, js, "in flight", nil)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never started")
	}
	// SIGTERM arrives while the handler works.
	cancel()
	close(release)
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	done := finished
	mu.Unlock()
	if !done {
		t.Fatal("Run returned before the in-flight handler finished")
	}
	// Run returned only after the handler's DoubleAck was confirmed.
	if ok, state := settled(t, js, "drain", 1)(); !ok {
		t.Fatalf("in-flight message not acked after drain: %s", state)
	}
}
