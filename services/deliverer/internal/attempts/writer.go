// Package attempts records delivery attempts in PostgreSQL. Rows are written
// in batches with COPY, never one round trip per attempt, yet each caller
// learns whether its own row is committed before it acks its message.
package attempts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Inserter writes rows in one statement; *store.Queries implements it.
type Inserter interface {
	InsertAttempts(ctx context.Context, rows []store.InsertAttemptsParams) (int64, error)
}

// Defaults for the batch writer.
const (
	// DefaultMaxBatch bounds the rows of one COPY; a larger backlog is
	// written as several batches side by side.
	DefaultMaxBatch   = 500
	defaultFlushLimit = 10 * time.Second
	// DefaultConcurrentFlushes is how many batches may be written at once.
	// While all of them are busy, new rows gather into the next batch.
	DefaultConcurrentFlushes = 4
)

// ErrClosed is returned by Record after the writer stopped.
var ErrClosed = errors.New("attempt writer stopped")

// Writer batches attempt rows by group commit: a row that arrives while a
// flush slot is free is written at once (no timer, so a quiet deliverer
// adds no latency), and rows that arrive while every slot is busy gather
// into the next batch, so under load one COPY carries many rows.
type Writer struct {
	db         Inserter
	log        *slog.Logger
	maxBatch   int
	maxFlushes int

	queue chan request
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	// waiting counts rows taken on but not yet handed to a flush.
	waiting atomic.Int64
}

// Pending reports how many rows wait for a free flush slot.
func (w *Writer) Pending() int { return int(w.waiting.Load()) }

type request struct {
	row    store.InsertAttemptsParams
	result chan error
}

// NewWriter returns a writer; maxBatch and maxFlushes fall back to the
// defaults when zero. Run must be running for Record to return.
func NewWriter(db Inserter, log *slog.Logger, maxBatch, maxFlushes int) *Writer {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatch
	}
	if maxFlushes <= 0 {
		maxFlushes = DefaultConcurrentFlushes
	}
	return &Writer{
		db: db, log: log, maxBatch: maxBatch, maxFlushes: maxFlushes,
		// Unbuffered: a row handed over is a row Run has taken on, so none
		// can be stranded in a queue when Run exits.
		queue: make(chan request),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// Record queues row and blocks until the batch holding it is committed,
// returning that batch's error. The caller must not ack its message unless
// Record returned nil.
func (w *Writer) Record(ctx context.Context, row store.InsertAttemptsParams) error {
	req := request{row: row, result: make(chan error, 1)}
	select {
	case w.queue <- req:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.result:
		return err
	case <-ctx.Done():
		// The row may still be written; the message is redelivered and the
		// retry records a second row, which beats losing the outcome.
		return ctx.Err()
	}
}

// Stop asks Run to write what it holds and return. Producers should be
// stopped first; later Records get ErrClosed.
func (w *Writer) Stop() { w.once.Do(func() { close(w.quit) }) }

// Run collects and writes batches until Stop is called, then writes the
// rows it holds, waits for every flush and returns.
func (w *Writer) Run() {
	defer close(w.done)
	var (
		pending  []request
		inFlight int
		flushed  = make(chan struct{}, w.maxFlushes)
		flushes  sync.WaitGroup
	)
	defer flushes.Wait()
	// startFlushes hands pending rows to free slots, at most maxBatch rows
	// per batch.
	startFlushes := func() {
		for len(pending) > 0 && inFlight < w.maxFlushes {
			n := min(len(pending), w.maxBatch)
			rows := pending[:n:n]
			pending = pending[n:]
			inFlight++
			w.waiting.Add(-int64(n))
			flushes.Add(1)
			go func() {
				defer flushes.Done()
				w.write(rows)
				flushed <- struct{}{}
			}()
		}
	}
	for {
		select {
		case req := <-w.queue:
			pending = append(pending, req)
			w.waiting.Add(1)
			startFlushes()
		case <-flushed:
			inFlight--
			startFlushes()
		case <-w.quit:
			for len(pending) > 0 {
				if inFlight == w.maxFlushes {
					<-flushed
					inFlight--
				}
				startFlushes()
			}
			return
		}
	}
}

// write inserts a batch. When the batch fails as a whole, each row is tried
// alone so one bad row fails only its own delivery.
func (w *Writer) write(reqs []request) {
	rows := make([]store.InsertAttemptsParams, len(reqs))
	for i, r := range reqs {
		rows[i] = r.row
	}
	err := w.insert(rows)
	if err == nil || len(reqs) == 1 {
		for _, r := range reqs {
			r.result <- err
		}
		return
	}
	w.log.Warn("attempt batch failed; writing rows one by one", "rows", len(reqs), telemetry.KeyError, err)
	for _, r := range reqs {
		r.result <- w.insert([]store.InsertAttemptsParams{r.row})
	}
}

func (w *Writer) insert(rows []store.InsertAttemptsParams) error {
	// Not tied to any caller: a batch serves many callers, and a write
	// started is finished even during shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), defaultFlushLimit)
	defer cancel()
	n, err := w.db.InsertAttempts(ctx, rows)
	if err != nil {
		return fmt.Errorf("insert %d attempts: %w", len(rows), err)
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("insert attempts: wrote %d of %d rows", n, len(rows))
	}
	return nil
}
