package deliver

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// Parking the same message twice, as a replica does when it crashed after
// the parked copy was stored but before the original was acked, stores one
// parked copy: the second is a duplicate JetStream drops.
func TestParkingTwiceStoresOneCopy(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	ctx := t.Context()
	original := nats.NewMsg("deliveries.acct1.hook1")
	original.Data = []byte("delivery bytes")
	original.Header.Set(bus.HeaderMsgID, "ev1:hook1")
	if _, err := js.PublishMsg(ctx, original); err != nil {
		t.Fatalf("publish: %v", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamDeliveries, jetstream.ConsumerConfig{
		Durable: "parking-test", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	// No lanes start: the lot's context is already over.
	done, cancel := context.WithCancel(ctx)
	cancel()
	lot := &parkingLot{d: &Deliverer{deps: Deps{JS: js, Log: slog.New(slog.DiscardHandler)}}, ctx: done, lanes: map[string]*lane{}}
	const key = "http://crm.example.com:80"
	for round := range 2 {
		// The second fetch is the redelivery after the lost ack.
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		var msg jetstream.Msg
		for m := range batch.Messages() {
			msg = m
		}
		if msg == nil {
			t.Fatalf("round %d: nothing fetched: %v", round, batch.Error())
		}
		if err := lot.park(ctx, msg, key); err != nil {
			t.Fatalf("round %d: park: %v", round, err)
		}
	}
	parked, err := js.Stream(ctx, bus.StreamParked)
	if err != nil {
		t.Fatal(err)
	}
	info, err := parked.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("PARKED holds %d copies, want 1", info.State.Msgs)
	}
	subject, _ := bus.ParkedSubject(key)
	stored, err := parked.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		t.Fatalf("parked copy on %s: %v", subject, err)
	}
	if string(stored.Data) != "delivery bytes" {
		t.Fatalf("parked copy holds %q", stored.Data)
	}
}
