// Package consume turns what PBXs publish on NATS (the PBX stream) into
// canonical events on EVENTS through the intake pipeline (accept), which
// the HTTP intake shares. A PBX message is acknowledged only after its
// event is stored (or, for rejected input, its dead-letter copy), so a
// crash in between loses nothing: the message is redelivered and the
// publish deduplicated.
package consume

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/accept"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// DefaultAckWait is how long a PBX message may be in process before
// JetStream redelivers it (to this or another replica, or after a crash);
// parsing and one publish take far less.
const DefaultAckWait = 30 * time.Second

// Deps are what the consumer needs.
type Deps struct {
	JS  jetstream.JetStream
	Log *slog.Logger
	// Pipeline parses, stores and dead-letters each message, as it does
	// for the HTTP intake.
	Pipeline *accept.Pipeline
	// Adapters decide which PBX subjects are consumed and how each is parsed.
	Adapters []adapter.Adapter
	// Workers bounds the messages handled at once.
	Workers int
	// AckWait overrides DefaultAckWait when positive.
	AckWait time.Duration
}

// Consumer is the ingest durable consumer on the PBX stream.
type Consumer struct {
	deps  Deps
	procs []*bus.Processor
}

// New validates deps and returns a Consumer.
func New(deps Deps) (*Consumer, error) {
	if deps.JS == nil || deps.Log == nil || deps.Pipeline == nil {
		return nil, errors.New("consume: JS, Log and Pipeline are required")
	}
	if len(deps.Adapters) == 0 {
		return nil, errors.New("consume: at least one adapter is required")
	}
	c := &Consumer{deps: deps}
	var parallel, ordered []string
	for _, a := range deps.Adapters {
		if a.Ordered {
			ordered = append(ordered, a.Subject)
		} else {
			parallel = append(parallel, a.Subject)
		}
	}
	if len(parallel) > 0 {
		c.procs = append(c.procs, c.processor(bus.ConsumerIngest, parallel, max(deps.Workers, 1)))
	}
	if len(ordered) > 0 {
		c.procs = append(c.procs, c.processor(bus.ConsumerIngestOrdered, ordered, 1))
	}
	return c, nil
}

// processor is one durable consumer over filters with workers handlers;
// with one worker, MaxAckPending 1 keeps a single message in flight across
// every replica, so a message is handled only once its predecessor is
// settled.
func (c *Consumer) processor(durable string, filters []string, workers int) *bus.Processor {
	maxAckPending := workers * 4
	if workers == 1 {
		maxAckPending = 1
	}
	return &bus.Processor{
		JS: c.deps.JS,
		Spec: bus.ConsumerSpec{
			Stream:         bus.StreamPBX,
			Durable:        durable,
			FilterSubjects: filters,
			AckWait:        cmp.Or(c.deps.AckWait, DefaultAckWait),
			MaxAckPending:  maxAckPending,
		},
		Handler: c.handle,
		Log:     c.deps.Log,
		Workers: workers,
		// No DeadLetterSubject: the pipeline copies rejected input itself,
		// because only it knows the account of an event sent on a shared
		// subject, and copies it the same way for the HTTP intake.
	}
}

// Run consumes until ctx is cancelled, then lets in-flight messages finish
// (each is acked, retried or dead-lettered) and returns. A consumer lost
// meanwhile is made again (see bus.Processor.Run). Adapters that keep state
// across events (Ordered) have a consumer of their own with one message in
// flight across all replicas, so their events are parsed in stream order;
// the others are handled by Workers in parallel.
func (c *Consumer) Run(ctx context.Context) error {
	// On the work-queue PBX stream two consumers' filters must not
	// overlap: the parallel consumer drops the ordered subjects (an older
	// ingest had them all) before the ordered one claims them.
	for _, p := range c.procs {
		if err := p.Ensure(ctx); err != nil {
			return err
		}
	}
	// A consumer that fails for good stops the others, so the service
	// exits and its supervisor restarts it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(c.procs))
	for _, p := range c.procs {
		go func() { errs <- p.Run(ctx) }()
	}
	var first error
	for range c.procs {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// Ready reports whether every consumer is consuming, for /readyz.
func (c *Consumer) Ready(ctx context.Context) error {
	for _, p := range c.procs {
		if err := p.Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// handle hands one PBX message to the intake pipeline and maps its outcome
// for the Processor: stored, duplicate or ignored input is acked; rejected
// input (already on the dead-letter stream) is returned as bus.Permanent so
// it is terminated; anything else is returned so the message is redelivered,
// after the outcome's wait when it names one.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) error {
	subject := msg.Subject()
	in := accept.Input{Raw: msg.Data(), Source: subject, Headers: msg.Headers()}
	a, ok := c.adapterFor(subject)
	if !ok {
		return outcomeErr(c.deps.Pipeline.Reject(ctx, in, "", nil, bus.Permanent("no adapter for subject", fmt.Errorf("subject %q", subject))))
	}
	in.Adapter = a
	accountID := adapter.AccountFromSubject(subject)
	if err := event.ValidateAccountID(accountID); err != nil {
		return outcomeErr(c.deps.Pipeline.Reject(ctx, in, "", nil, bus.Permanent("invalid account id in subject", err)))
	}
	in.AccountID = accountID
	// The time the PBX stream stored the message is stable across
	// redeliveries, so a retried message yields the same event.
	in.ReceivedAt = time.Now()
	if md, err := msg.Metadata(); err == nil {
		in.ReceivedAt = md.Timestamp
	}
	out := c.deps.Pipeline.Accept(ctx, in)
	if out.Result == accept.Stored || out.Result == accept.Duplicate {
		c.deps.Log.DebugContext(ctx, "event stored", telemetry.KeyAccountID, accountID, telemetry.KeySubject, subject, telemetry.KeyEventID, out.Event.GetId())
	}
	return outcomeErr(out)
}

// outcomeErr is the Processor's view of an outcome: nil acks, a
// bus.PermanentError terminates, any other error redelivers.
func outcomeErr(out accept.Outcome) error {
	switch out.Result {
	case accept.Stored, accept.Duplicate, accept.Ignored:
		return nil
	case accept.Rejected:
		return out.Err
	}
	if out.RetryAfter > 0 {
		return bus.RetryAfter(out.RetryAfter, out.Err)
	}
	return out.Err
}

func (c *Consumer) adapterFor(subject string) (adapter.Adapter, bool) {
	for _, a := range c.deps.Adapters {
		if a.OwnsSubject(subject) {
			return a, true
		}
	}
	return adapter.Adapter{}, false
}
