// Package pbxsim plays both ends of pbxhooks for the benchmark and the fault
// suite: a PBX that publishes native call events on NATS with JetStream
// publishes, and a customer endpoint that records every callback it gets.
//
// The publisher keeps a ledger of every event it sent and of which ones
// JetStream acknowledged: only an acknowledged event is a promise pbxhooks
// must keep, so that ledger is what the fault suite checks deliveries
// against.
package pbxsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Lifecycles is the sequence every simulated call goes through: each call is
// three consecutive events to the same account.
var Lifecycles = [3]string{"channel_create", "channel_answer", "channel_destroy"}

// Publisher publishes simulated PBX events. Event i belongs to call i/3 and
// to account Accounts[(i/3) % len(Accounts)]; its id is RunID + "-" + i, so
// every id maps back to its ledger slot without a map.
type Publisher struct {
	// NC is the PBX's NATS connection; the publisher makes its own JetStream
	// context on it.
	NC *nats.Conn
	// Accounts receive the calls round-robin.
	Accounts []string
	// RunID prefixes every event and call id, so runs never collide in the
	// streams' dedupe window or in the attempts table.
	RunID string
	// Rate is the offered load in events per second; zero publishes as fast
	// as MaxInFlight unacknowledged publishes allow.
	Rate float64
	// MaxInFlight bounds publishes awaiting their PubAck (default 256).
	MaxInFlight int
	// RetryFor is how long an event whose publish failed (NATS restarting,
	// a cluster electing a leader) is re-published with the same
	// Nats-Msg-Id before it is given up as unacknowledged. Zero: no retry.
	RetryFor time.Duration
	// AckTimeout bounds the wait for one PubAck (default 5s).
	AckTimeout time.Duration
}

// Ledger records, per event, when it was first published and when its
// PubAck arrived. Times are Unix nanoseconds; zero means "not (yet)".
type Ledger struct {
	RunID    string
	Accounts []string
	SentAt   []int64
	AckedAt  []atomic.Int64
	// Sent counts first publishes so far; safe to read while Run runs
	// (SentAt is not).
	Sent atomic.Int64
	// Retried counts publishes that were repeated after an error.
	Retried atomic.Int64
	// mu guards lastErr, the last publish error seen, for the report.
	mu      sync.Mutex
	lastErr error
}

// EventID is the id of event i.
func (l *Ledger) EventID(i int) string { return EventID(l.RunID, i) }

// EventID is the id of event i of run runID.
func EventID(runID string, i int) string { return runID + "-" + strconv.Itoa(i) }

// Index maps an event id of this run back to its slot.
func (l *Ledger) Index(eventID string) (int, bool) {
	rest, ok := strings.CutPrefix(eventID, l.RunID+"-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= len(l.SentAt) {
		return 0, false
	}
	return i, true
}

// Account is the account event i was published for.
func (l *Ledger) Account(i int) string { return l.Accounts[(i/3)%len(l.Accounts)] }

// Acked counts the events JetStream acknowledged.
func (l *Ledger) Acked() int {
	n := 0
	for i := range l.AckedAt {
		if l.AckedAt[i].Load() != 0 {
			n++
		}
	}
	return n
}

// IsAcked reports whether event i was acknowledged.
func (l *Ledger) IsAcked(i int) bool { return l.AckedAt[i].Load() != 0 }

// LastErr is the last publish error, nil when every publish succeeded.
func (l *Ledger) LastErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

func (l *Ledger) setErr(err error) {
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
}

// FirstSent and LastAcked bound the publishing window.
func (l *Ledger) FirstSent() time.Time {
	if len(l.SentAt) == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.SentAt[0])
}

// LastAcked is when the last PubAck arrived.
func (l *Ledger) LastAcked() time.Time {
	var last int64
	for i := range l.AckedAt {
		last = max(last, l.AckedAt[i].Load())
	}
	return time.Unix(0, last)
}

// NewLedger sizes a ledger for n events.
func NewLedger(runID string, accounts []string, n int) *Ledger {
	return &Ledger{RunID: runID, Accounts: accounts, SentAt: make([]int64, n), AckedAt: make([]atomic.Int64, n)}
}

// Event renders event i of the ledger as native JSON.
func (l *Ledger) Event(i int) []byte {
	return NativeEvent(l.RunID, i)
}

// NativeEvent renders event i of run runID: a channel_create, answer or
// destroy of call i/3, inbound, with the fields the native format requires.
func NativeEvent(runID string, i int) []byte {
	call := i / 3
	b := make([]byte, 0, 384)
	b = append(b, `{"event":"`...)
	b = append(b, Lifecycles[i%3]...)
	b = append(b, `","id":"`...)
	b = append(b, runID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `","call_id":"`...)
	b = append(b, runID...)
	b = append(b, "-call-"...)
	b = strconv.AppendInt(b, int64(call), 10)
	b = append(b, `","direction":"inbound","from":"+1555`...)
	b = strconv.AppendInt(b, int64(1000000+call%9000000), 10)
	b = append(b, `@pbx.example.com","from_name":"Caller","to":"+15552345678@pbx.example.com",`+
		`"to_name":"Sales","request":"+15552345678@pbx.example.com","timestamp":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if i%3 == 2 {
		b = append(b, `,"hangup_cause":"NORMAL_CLEARING","answered":true,"duration_seconds":42`...)
	}
	b = append(b, '}')
	return b
}

// Run publishes events [0, len(ledger.SentAt)) and returns when each is
// acknowledged or given up on, or ctx ends. The returned error is only about
// ctx or setup; publish failures are in the ledger.
func (p *Publisher) Run(ctx context.Context, ledger *Ledger) error {
	return p.RunRange(ctx, ledger, 0, len(ledger.SentAt))
}

// RunRange publishes events [from, to) of ledger.
func (p *Publisher) RunRange(ctx context.Context, ledger *Ledger, from, to int) error {
	if len(ledger.Accounts) == 0 {
		return errors.New("pbxsim: no accounts")
	}
	inFlight := p.MaxInFlight
	if inFlight <= 0 {
		inFlight = 256
	}
	ackTimeout := p.AckTimeout
	if ackTimeout <= 0 {
		ackTimeout = 5 * time.Second
	}
	js, err := jetstream.New(p.NC,
		jetstream.WithPublishAsyncMaxPending(inFlight),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return fmt.Errorf("pbxsim: JetStream context: %w", err)
	}

	type pending struct {
		i      int
		future jetstream.PubAckFuture
	}
	futures := make(chan pending, inFlight)
	failed := make(chan int, inFlight)
	var wg sync.WaitGroup

	// Acks arrive in publish order, so one collector waiting on each future
	// in turn keeps up; failures go to the retriers.
	wg.Go(func() {
		defer close(failed)
		for f := range futures {
			select {
			case <-f.future.Ok():
				ledger.AckedAt[f.i].Store(time.Now().UnixNano())
			case err := <-f.future.Err():
				ledger.setErr(err)
				failed <- f.i
			}
		}
	})
	var retriers sync.WaitGroup
	for range 8 {
		retriers.Go(func() {
			for i := range failed {
				p.retry(ctx, js, ledger, i, ackTimeout)
			}
		})
	}

	start := time.Now()
	var runErr error
publish:
	for i := from; i < to; i++ {
		if p.Rate > 0 {
			due := start.Add(time.Duration(float64(i-from) / p.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
					runErr = ctx.Err()
					break publish
				case <-time.After(wait):
				}
			}
		}
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		msg := p.message(ledger, i)
		ledger.SentAt[i] = time.Now().UnixNano()
		ledger.Sent.Add(1)
		future, err := js.PublishMsgAsync(msg)
		if err != nil {
			// Too many pending or disconnected: hand to a retrier.
			ledger.setErr(err)
			futures <- pending{i: i, future: failedFuture{err: err}}
			continue
		}
		futures <- pending{i: i, future: future}
	}
	close(futures)
	wg.Wait()
	retriers.Wait()
	return runErr
}

func (p *Publisher) message(ledger *Ledger, i int) *nats.Msg {
	account := ledger.Account(i)
	msg := nats.NewMsg("pbx.events." + account)
	msg.Data = ledger.Event(i)
	// The same id ingest gives the canonical event: a re-publish after an
	// error is deduplicated by the PBX stream.
	msg.Header.Set(jetstream.MsgIDHeader, account+"/"+ledger.EventID(i))
	return msg
}

// retry re-publishes event i synchronously until it is acknowledged, RetryFor
// passes or ctx ends.
func (p *Publisher) retry(ctx context.Context, js jetstream.JetStream, ledger *Ledger, i int, ackTimeout time.Duration) {
	if p.RetryFor <= 0 {
		return
	}
	deadline := time.Now().Add(p.RetryFor)
	backoff := 100 * time.Millisecond
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ledger.Retried.Add(1)
		pubCtx, cancel := context.WithTimeout(ctx, ackTimeout)
		_, err := js.PublishMsg(pubCtx, p.message(ledger, i))
		cancel()
		if err == nil {
			ledger.AckedAt[i].Store(time.Now().UnixNano())
			return
		}
		ledger.setErr(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// failedFuture stands for a publish that failed before it was sent.
type failedFuture struct{ err error }

func (f failedFuture) Ok() <-chan *jetstream.PubAck { return nil }
func (f failedFuture) Err() <-chan error {
	ch := make(chan error, 1)
	ch <- f.err
	return ch
}
func (f failedFuture) Msg() *nats.Msg { return nil }
