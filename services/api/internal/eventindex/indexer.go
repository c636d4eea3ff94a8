// Package eventindex copies the canonical events of the EVENTS stream into
// PostgreSQL's events_index, which the API's event search, call timeline
// and filter preview read. It runs in the API service off the delivery
// path: a durable JetStream consumer (bus.ConsumerEventsIndex) that every
// API replica shares, whose messages are written in batches, one INSERT
// per batch, and acked only once their batch is committed. A redelivered
// event conflicts on its key and is skipped, so redelivery never
// duplicates a row.
package eventindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Defaults of an Indexer.
const (
	// DefaultMaxBatch bounds the rows of one INSERT.
	DefaultMaxBatch = 500
	// DefaultLinger is how long the first row of a batch waits for others:
	// the index is read by people, so a fraction of a second of delay buys
	// large batches when events arrive one by one.
	DefaultLinger = 200 * time.Millisecond
	// DefaultRetention keeps indexed events as long as attempts are kept.
	DefaultRetention = 30 * 24 * time.Hour
	// insertLimit bounds one batch's INSERT.
	insertLimit = 30 * time.Second
)

// ErrStopped is returned to messages handed to an Indexer after Stop.
var ErrStopped = errors.New("events index writer stopped")

// Config shapes an Indexer; zero values take the defaults.
type Config struct {
	MaxBatch int
	Linger   time.Duration
}

// Indexer consumes EVENTS into events_index.
type Indexer struct {
	pool     *pgxpool.Pool
	js       jetstream.JetStream
	log      *slog.Logger
	maxBatch int
	linger   time.Duration

	processor *bus.Processor
	queue     chan pending
	quit      chan struct{}
	done      chan struct{}
	stopOnce  sync.Once

	batches, rows atomic.Int64
}

// Written reports how many batches and rows the indexer has committed
// (rows counts those an INSERT carried, redelivered ones included).
func (ix *Indexer) Written() (batches, rows int64) { return ix.batches.Load(), ix.rows.Load() }

type pending struct {
	row    Row
	result chan error
}

// New returns an Indexer; Run consumes.
func New(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, cfg Config) *Indexer {
	ix := &Indexer{
		pool: pool, js: js, log: log,
		maxBatch: cfg.MaxBatch, linger: cfg.Linger,
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	if ix.maxBatch <= 0 {
		ix.maxBatch = DefaultMaxBatch
	}
	if ix.linger <= 0 {
		ix.linger = DefaultLinger
	}
	// Rows gather here while a batch is being written.
	ix.queue = make(chan pending, ix.maxBatch)
	ix.processor = &bus.Processor{
		JS: js,
		Spec: bus.ConsumerSpec{
			Stream: bus.StreamEvents, Durable: bus.ConsumerEventsIndex,
			FilterSubjects: []string{bus.SubjectEventsAll},
			AckWait:        insertLimit + time.Minute,
			// A batch per replica in flight, and the next one gathering.
			MaxAckPending: 4 * ix.maxBatch,
		},
		Handler: ix.handle,
		Log:     log,
		// One handler per row of a batch: each waits for its batch.
		Workers: ix.maxBatch,
	}
	return ix
}

// Ready reports whether the consumer is consuming (the API's readiness).
func (ix *Indexer) Ready(ctx context.Context) error { return ix.processor.Ready(ctx) }

// Run consumes until ctx ends, then lets in-flight messages finish (their
// batches are written and acked) and returns. Only a cancelled ctx is a
// clean stop: a consumer that cannot be kept is an error.
func (ix *Indexer) Run(ctx context.Context) error {
	writerDone := make(chan struct{})
	go func() { ix.write(); close(writerDone) }()
	err := ix.processor.Run(ctx)
	// Every handler has returned: nothing more will be queued.
	ix.stopOnce.Do(func() { close(ix.quit) })
	<-writerDone
	return err
}

// handle queues the message's row and returns once its batch is
// committed; the Processor then acks it. A message that is not a valid
// event is terminated: retrying cannot fix it, and the matcher dead-letters
// the same message.
func (ix *Indexer) handle(ctx context.Context, msg jetstream.Msg) error {
	stored := time.Now()
	if md, err := msg.Metadata(); err == nil {
		stored = md.Timestamp
	}
	row, err := RowFromMessage(msg.Subject(), msg.Data(), TestHookID(msg), stored)
	if err != nil {
		return bus.Permanent("not an indexable event", err)
	}
	p := pending{row: row, result: make(chan error, 1)}
	select {
	case ix.queue <- p:
	case <-ix.done:
		return ErrStopped
	}
	return <-p.result
}

// write gathers rows into batches: a batch is written when it is full or
// when its first row has waited Linger. It returns after quit, once the
// rows it holds are written.
func (ix *Indexer) write() {
	defer close(ix.done)
	var (
		batch []pending
		timer *time.Timer
		fire  <-chan time.Time
	)
	flush := func() {
		if timer != nil {
			timer.Stop()
			timer, fire = nil, nil
		}
		if len(batch) == 0 {
			return
		}
		ix.flush(batch)
		batch = nil
	}
	for {
		select {
		case p := <-ix.queue:
			batch = append(batch, p)
			if len(batch) == 1 {
				timer = time.NewTimer(ix.linger)
				fire = timer.C
			}
			if len(batch) >= ix.maxBatch {
				flush()
			}
		case <-fire:
			flush()
		case <-ix.quit:
			for {
				select {
				case p := <-ix.queue:
					batch = append(batch, p)
					if len(batch) >= ix.maxBatch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// flush writes one batch and tells each of its messages the outcome. When
// the batch fails as a whole, each row is tried alone so that one row
// PostgreSQL refuses fails only its own message.
func (ix *Indexer) flush(batch []pending) {
	rows := make([]Row, len(batch))
	for i, p := range batch {
		rows[i] = p.row
	}
	err := ix.insert(rows)
	if err == nil || len(batch) == 1 {
		for _, p := range batch {
			p.result <- err
		}
		return
	}
	ix.log.Warn("events index batch failed; writing rows one by one", "rows", len(batch), telemetry.KeyError, err)
	for _, p := range batch {
		p.result <- ix.insert([]Row{p.row})
	}
}

// insert writes rows in one statement. The context is not any caller's: a
// batch serves many messages, and a write started is finished even during
// shutdown.
func (ix *Indexer) insert(rows []Row) error {
	ctx, cancel := context.WithTimeout(context.Background(), insertLimit)
	defer cancel()
	if _, err := store.New(ix.pool).InsertIndexedEvents(ctx, insertParams(rows)); err != nil {
		return fmt.Errorf("index %d events: %w", len(rows), err)
	}
	ix.batches.Add(1)
	ix.rows.Add(int64(len(rows)))
	return nil
}

// insertParams turns rows into the columns of InsertIndexedEvents' unnest.
func insertParams(rows []Row) store.InsertIndexedEventsParams {
	n := len(rows)
	p := store.InsertIndexedEventsParams{
		AccountIds: make([]string, n), EventIds: make([]string, n), Kinds: make([]string, n),
		Lifecycles: make([]string, n), CallTypes: make([]string, n), Statuses: make([]string, n),
		MediaTypes: make([]string, n), MediaIds: make([]string, n), InternalLegs: make([]bool, n),
		CallIds: make([]string, n), ThreadIds: make([]string, n), FromNumbers: make([]string, n),
		ToNumbers: make([]string, n), Directions: make([]string, n), Sources: make([]string, n),
		TestHookIds: make([]string, n), OccurredAts: make([]time.Time, n), ReceivedAts: make([]time.Time, n),
		Payloads: make([]json.RawMessage, n),
	}
	for i, r := range rows {
		p.AccountIds[i], p.EventIds[i], p.Kinds[i] = r.AccountID, r.EventID, r.Kind
		p.Lifecycles[i], p.CallTypes[i], p.Statuses[i] = r.Lifecycle, r.CallType, r.Status
		p.MediaTypes[i], p.MediaIds[i], p.InternalLegs[i] = r.MediaType, r.MediaID, r.IsInternalLeg
		p.CallIds[i], p.ThreadIds[i], p.FromNumbers[i] = r.CallID, r.ThreadID, r.FromNumber
		p.ToNumbers[i], p.Directions[i], p.Sources[i] = r.ToNumber, r.Direction, r.Source
		p.TestHookIds[i], p.OccurredAts[i], p.ReceivedAts[i] = r.TestHookID, r.OccurredAt, r.ReceivedAt
		p.Payloads[i] = r.Payload
	}
	return p
}
