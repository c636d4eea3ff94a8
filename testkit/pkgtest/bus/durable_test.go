package bus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// count is how often the recorder saw data.
func (r *recorder) count(data string) int {
	n := 0
	for _, d := range r.deliveries() {
		if d.data == data {
			n++
		}
	}
	return n
}

func ready(t *testing.T, p *bus.Processor) func() (bool, string) {
	return func() (bool, string) {
		err := p.Ready(t.Context())
		return err == nil, fmt.Sprint(err)
	}
}

// A consumer deleted under a running Processor is made again: a message
// published afterwards is handled, and messages acked before the deletion
// are not handled again (the new consumer starts after the ack floor, not
// at the start of EVENTS, which keeps a week of events).
func TestProcessorMakesADeletedConsumerAgain(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	rec := &recorder{answer: func(uint64) error { return nil }}
	p := newProcessor(js, "deleted", rec.handle)
	p.CheckEvery = 50 * time.Millisecond
	run(t, p)

	for i := range 3 {
		publish(t, js, fmt.Sprintf("before %d", i), nil)
	}
	testenv.Eventually(t, 10*time.Second, "the first messages to be acked", settled(t, js, "deleted", 3))
	testenv.Eventually(t, 10*time.Second, "the processor to report ready", ready(t, p))
	// Let the processor note the ack floor (it checks every 50 ms; the
	// margin is for a loaded machine).
	time.Sleep(40 * p.CheckEvery)

	if err := js.DeleteConsumer(t.Context(), bus.StreamEvents, "deleted"); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "after", nil)
	testenv.Eventually(t, 10*time.Second, "the message published after the deletion to be handled", func() (bool, string) {
		return rec.count("after") == 1, fmt.Sprintf("%d handled", len(rec.deliveries()))
	})
	testenv.Eventually(t, 10*time.Second, "the processor to report ready", ready(t, p))
	for i := range 3 {
		if n := rec.count(fmt.Sprintf("before %d", i)); n != 1 {
			t.Errorf("message acked before the deletion handled %d times", n)
		}
	}
	cons, err := js.Consumer(t.Context(), bus.StreamEvents, "deleted")
	if err != nil {
		t.Fatalf("consumer not made again: %v", err)
	}
	if cfg := cons.CachedInfo().Config; cfg.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || cfg.OptStartSeq != 4 {
		t.Errorf("consumer made again with deliver policy %v from %d, want by start sequence from 4", cfg.DeliverPolicy, cfg.OptStartSeq)
	}

	// A restarted service keeps the made-again consumer's start instead of
	// failing to update it to "deliver all".
	second := newProcessor(js, "deleted", rec.handle)
	_, wait := run(t, second)
	testenv.Eventually(t, 10*time.Second, "a second processor on the made-again consumer to be ready", func() (bool, string) {
		err := second.Ready(t.Context())
		if err != nil && strings.Contains(err.Error(), "stopped") {
			t.Fatalf("second processor stopped: %v", wait())
		}
		return err == nil, fmt.Sprint(err)
	})
}

// While the consumer cannot be made again (its stream is gone) Ready says
// so; once the stream is back the processor consumes it again, from its
// beginning, since the new stream's sequences start over.
func TestProcessorIsNotReadyWhileItsConsumerCannotBeMade(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	rec := &recorder{answer: func(uint64) error { return nil }}
	p := newProcessor(js, "nostream", rec.handle)
	if err := p.Ready(t.Context()); err == nil {
		t.Fatal("Ready before Run = nil, want an error")
	}
	run(t, p)
	testenv.Eventually(t, 10*time.Second, "the processor to report ready", ready(t, p))
	for i := range 5 {
		publish(t, js, fmt.Sprintf("old %d", i), nil)
	}
	testenv.Eventually(t, 10*time.Second, "the first messages to be acked", settled(t, js, "nostream", 5))

	if err := js.DeleteStream(t.Context(), bus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the processor to report not ready", func() (bool, string) {
		err := p.Ready(t.Context())
		return err != nil && strings.Contains(err.Error(), "nostream"), fmt.Sprint(err)
	})
	if err := bus.EnsureStreams(t.Context(), js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "new", nil)
	testenv.Eventually(t, 10*time.Second, "the message on the new stream to be handled", func() (bool, string) {
		return rec.count("new") == 1, fmt.Sprintf("%d handled", len(rec.deliveries()))
	})
	testenv.Eventually(t, 10*time.Second, "the processor to report ready", ready(t, p))
}

// A consumer that cannot be made again within RecreateFor fails Run, so the
// service exits non-zero instead of idling.
func TestProcessorFailsWhenItsConsumerStaysLost(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	p := newProcessor(js, "gone", func(context.Context, jetstream.Msg) error { return nil })
	p.RecreateFor = 500 * time.Millisecond
	_, wait := run(t, p)
	testenv.Eventually(t, 10*time.Second, "the processor to report ready", ready(t, p))
	if err := js.DeleteStream(t.Context(), bus.StreamEvents); err != nil {
		t.Fatal(err)
	}
	err := wait()
	if err == nil || !strings.Contains(err.Error(), "not made again") {
		t.Fatalf("Run = %v, want an error saying the consumer was not made again", err)
	}
	if err := p.Ready(t.Context()); err == nil {
		t.Fatal("Ready after Run failed = nil, want an error")
	}
}

// On a work-queue stream (PBX, DELIVERIES) JetStream allows only "deliver
// all" consumers; acked messages are gone from it, so a consumer made
// again that way still starts after the ack floor.
func TestProcessorMakesADeletedWorkQueueConsumerAgain(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	rec := &recorder{answer: func(uint64) error { return nil }}
	p := newProcessor(js, "workqueue", rec.handle)
	p.Spec.Stream = bus.StreamDeliveries
	p.Spec.FilterSubjects = []string{bus.SubjectDeliveriesAll}
	p.CheckEvery = 50 * time.Millisecond
	run(t, p)
	subject, err := bus.DeliverySubject("acct1", "hook1")
	if err != nil {
		t.Fatal(err)
	}
	send := func(data string) {
		if _, err := js.Publish(t.Context(), subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		send(fmt.Sprintf("before %d", i))
	}
	testenv.Eventually(t, 10*time.Second, "the first messages to be handled and removed", func() (bool, string) {
		s, err := js.Stream(t.Context(), bus.StreamDeliveries)
		if err != nil {
			return false, err.Error()
		}
		info, err := s.Info(t.Context())
		if err != nil {
			return false, err.Error()
		}
		return len(rec.deliveries()) == 3 && info.State.Msgs == 0, fmt.Sprintf("%d handled, %d stored", len(rec.deliveries()), info.State.Msgs)
	})
	// Let the processor note the ack floor (past 1).
	time.Sleep(40 * p.CheckEvery)

	if err := js.DeleteConsumer(t.Context(), bus.StreamDeliveries, "workqueue"); err != nil {
		t.Fatal(err)
	}
	send("after")
	testenv.Eventually(t, 10*time.Second, "the message published after the deletion to be handled", func() (bool, string) {
		return rec.count("after") == 1, fmt.Sprint(p.Ready(t.Context()))
	})
	testenv.Eventually(t, 10*time.Second, "the processor to report ready", ready(t, p))
	if n := len(rec.deliveries()); n != 4 {
		t.Errorf("%d messages handled, want 4", n)
	}
}
