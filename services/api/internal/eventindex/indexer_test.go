package eventindex_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func callEvent(account, id, callID, status string) *pbxhooksv1.Event {
	now := time.Now()
	return &pbxhooksv1.Event{
		Id: id, AccountId: account, Kind: event.KindCall, Source: "native",
		OccurredAt: timestamppb.New(now), ReceivedAt: timestamppb.New(now),
		Lifecycle: event.LifecycleChannelDestroy, CallType: event.CallTypeIncoming, Status: status,
		CallId: callID, ThreadId: "t-" + callID, Direction: event.DirectionInbound,
		From: "+15550100", To: "5010",
	}
}

func publish(t *testing.T, js jetstream.JetStream, evs ...*pbxhooksv1.Event) {
	t.Helper()
	for _, ev := range evs {
		subject, err := bus.EventSubject(ev)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := bus.EventMsg(t.Context(), subject, ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bus.PublishEvent(t.Context(), js, msg); err != nil {
			t.Fatalf("publish %s: %v", ev.GetId(), err)
		}
	}
}

// run starts an indexer and returns it with a stop that waits for Run.
func run(t *testing.T, pool *pgxpool.Pool, js jetstream.JetStream, cfg eventindex.Config) (*eventindex.Indexer, func()) {
	t.Helper()
	ix := eventindex.New(pool, js, slog.New(slog.NewJSONHandler(t.Output(), nil)), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = ix.Run(ctx) })
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("indexer Run: %v", runErr)
		}
	}
	t.Cleanup(stop)
	return ix, stop
}

func countIndexed(t *testing.T, pool *pgxpool.Pool, account string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM events_index WHERE account_id = $1`, account).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func setup(t *testing.T) (*pgxpool.Pool, jetstream.JetStream) {
	t.Helper()
	_, pool := testenv.Postgres(t)
	_, _, js := testenv.JetStream(t)
	if err := bus.EnsureStreams(t.Context(), js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsurePartitions(t.Context(), store.New(pool), store.EventsIndexTable); err != nil {
		t.Fatal(err)
	}
	return pool, js
}

// TestIndexerWritesFullBatchesAndNeverDuplicates: a backlog is written as
// full batches (one INSERT each), and replaying the whole stream (the
// consumer made again from the start, as after its loss) adds no row.
func TestIndexerWritesFullBatchesAndNeverDuplicates(t *testing.T) {
	t.Parallel()
	pool, js := setup(t)
	for i := range 30 {
		publish(t, js, callEvent("acme", fmt.Sprintf("e%02d", i), fmt.Sprintf("c%d", i%3), event.StatusMissed))
	}
	// A linger far longer than the test: only full batches are written.
	ix, stop := run(t, pool, js, eventindex.Config{MaxBatch: 10, Linger: time.Hour})
	testenv.Eventually(t, 30*time.Second, "30 events indexed", func() (bool, string) {
		n := countIndexed(t, pool, "acme")
		return n == 30, fmt.Sprintf("%d indexed", n)
	})
	if batches, rows := ix.Written(); batches != 3 || rows != 30 {
		t.Fatalf("wrote %d batches of %d rows in all, want 3 full batches of 10", batches, rows)
	}
	stop()

	// Replay everything: the rows conflict on their key and are skipped.
	if err := js.DeleteConsumer(t.Context(), bus.StreamEvents, bus.ConsumerEventsIndex); err != nil {
		t.Fatal(err)
	}
	replay, stopReplay := run(t, pool, js, eventindex.Config{MaxBatch: 10, Linger: 50 * time.Millisecond})
	testenv.Eventually(t, 30*time.Second, "the replay written", func() (bool, string) {
		_, rows := replay.Written()
		return rows == 30, fmt.Sprintf("%d rows replayed", rows)
	})
	stopReplay()
	if n := countIndexed(t, pool, "acme"); n != 30 {
		t.Fatalf("%d rows after the replay, want 30", n)
	}
	// Nothing is left unacknowledged.
	cons, err := js.Consumer(t.Context(), bus.StreamEvents, bus.ConsumerEventsIndex)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer has %d pending acks and %d undelivered", info.NumAckPending, info.NumPending)
	}
}

// TestIndexerWritesAPartialBatchAfterTheLinger: a lone event is not held
// until a batch fills.
func TestIndexerWritesAPartialBatchAfterTheLinger(t *testing.T) {
	t.Parallel()
	pool, js := setup(t)
	ix, _ := run(t, pool, js, eventindex.Config{MaxBatch: 500, Linger: 20 * time.Millisecond})
	publish(t, js, callEvent("acme", "lone", "c1", event.StatusRinging))
	testenv.Eventually(t, 30*time.Second, "the lone event indexed", func() bool { return countIndexed(t, pool, "acme") == 1 })
	if batches, rows := ix.Written(); batches != 1 || rows != 1 {
		t.Fatalf("wrote %d batches, %d rows; want 1 and 1", batches, rows)
	}
	var status, from, payload string
	if err := pool.QueryRow(t.Context(), `SELECT status, from_number, payload->>'callId' FROM events_index WHERE event_id = 'lone'`).
		Scan(&status, &from, &payload); err != nil {
		t.Fatal(err)
	}
	if status != event.StatusRinging || from != "+15550100" || payload != "c1" {
		t.Fatalf("indexed status %q from %q payload call id %q", status, from, payload)
	}
}

// TestIndexerTerminatesWhatIsNotAnEvent: garbage and an event filed under
// another account's subject are not indexed (and not retried forever),
// while the events around them are.
func TestIndexerTerminatesWhatIsNotAnEvent(t *testing.T) {
	t.Parallel()
	pool, js := setup(t)
	publish(t, js, callEvent("acme", "before", "c1", event.StatusRinging))
	if _, err := js.Publish(t.Context(), "events.acme.call.incoming_call.ringing", []byte("\xff\xfenot protobuf")); err != nil {
		t.Fatal(err)
	}
	foreign := callEvent("globex", "spoof", "c9", event.StatusRinging)
	msg, err := bus.EventMsg(t.Context(), "events.acme.call.incoming_call.ringing", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.PublishEvent(t.Context(), js, msg); err != nil {
		t.Fatal(err)
	}
	publish(t, js, callEvent("acme", "after", "c2", event.StatusRinging))
	run(t, pool, js, eventindex.Config{Linger: 20 * time.Millisecond})

	testenv.Eventually(t, 30*time.Second, "both real events indexed and nothing pending", func() (bool, string) {
		cons, err := js.Consumer(t.Context(), bus.StreamEvents, bus.ConsumerEventsIndex)
		if err != nil {
			return false, err.Error()
		}
		info, err := cons.Info(t.Context())
		if err != nil {
			return false, err.Error()
		}
		n := countIndexed(t, pool, "acme")
		return n == 2 && info.NumAckPending == 0 && info.NumPending == 0,
			fmt.Sprintf("%d indexed, %d ack pending, %d pending", n, info.NumAckPending, info.NumPending)
	})
	if n := countIndexed(t, pool, "globex"); n != 0 {
		t.Fatalf("the spoofed event was indexed for globex (%d rows)", n)
	}
}

// TestEventsIndexRetention runs the attempts' retention mechanism on the
// events index: old day partitions are dropped, old rows in the default
// partition deleted, today's kept.
func TestEventsIndexRetention(t *testing.T) {
	t.Parallel()
	pool, _ := setup(t)
	ctx := t.Context()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	old := today.AddDate(0, 0, -40)
	name := "events_index_" + old.Format("20060102")
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF events_index FOR VALUES FROM ('%s') TO ('%s')`,
		name, old.Format(time.RFC3339), old.AddDate(0, 0, 1).Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
	insert := func(id string, at time.Time) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO events_index (account_id, event_id, kind, occurred_at, received_at)
			VALUES ('acme', $1, 'call', $2, $2)`, id, at); err != nil {
			t.Fatal(err)
		}
	}
	insert("in-old-partition", old.Add(time.Hour))
	for i := range 5 {
		insert(fmt.Sprintf("in-default-%d", i), today.AddDate(0, 0, -45).Add(time.Duration(i)*time.Minute))
	}
	insert("today", time.Now())

	m := &store.PartitionMaintenance{Pool: pool, Table: store.EventsIndexTable, Retention: 30 * 24 * time.Hour,
		BatchSize: 2, Log: slog.New(slog.DiscardHandler)}
	res, err := m.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.PartitionsDropped != 1 || res.RowsDeleted != 5 {
		t.Fatalf("retention = %+v, want 1 partition dropped and 5 rows deleted", res)
	}
	if n := countIndexed(t, pool, "acme"); n != 1 {
		t.Fatalf("%d rows left, want today's", n)
	}
}
