// Package consume turns what PBXs publish on NATS (the PBX stream) into
// canonical events on EVENTS. A PBX message is acknowledged only after its
// event is stored, so a crash in between loses nothing: the message is
// redelivered and the publish deduplicated.
package consume

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ingestmetrics"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
)

// DefaultAckWait is how long a PBX message may be in process before
// JetStream redelivers it (to this or another replica, or after a crash);
// parsing and one publish take far less.
const DefaultAckWait = 30 * time.Second

// Deps are what the consumer needs.
type Deps struct {
	JS        jetstream.JetStream
	Publisher *publish.Publisher
	Log       *slog.Logger
	// Adapters decide which PBX subjects are consumed and how each is parsed.
	Adapters []adapter.Adapter
	// Workers bounds the messages handled at once.
	Workers int
	// MaxEventBytes rejects larger messages as invalid input.
	MaxEventBytes int
	// PublishTimeout bounds the wait for the EVENTS acknowledgement (and
	// for the media lookup).
	PublishTimeout time.Duration
	// Media checks that media events name a stored file.
	Media *media.Store
	// AckWait overrides DefaultAckWait when positive.
	AckWait time.Duration
	// Metrics counts rejected and ignored input (the Publisher counts the
	// rest); nil counts nothing.
	Metrics *ingestmetrics.Metrics
}

// Consumer is the ingest durable consumer on the PBX stream.
type Consumer struct {
	deps  Deps
	procs []*bus.Processor
}

// New validates deps and returns a Consumer.
func New(deps Deps) (*Consumer, error) {
	if deps.JS == nil || deps.Publisher == nil || deps.Log == nil || deps.Media == nil {
		return nil, errors.New("consume: JS, Publisher, Log and Media are required")
	}
	if len(deps.Adapters) == 0 {
		return nil, errors.New("consume: at least one adapter is required")
	}
	if deps.MaxEventBytes <= 0 || deps.PublishTimeout <= 0 {
		return nil, errors.New("consume: MaxEventBytes and PublishTimeout must be positive")
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
		// No DeadLetterSubject: handle copies rejected input itself, because
		// only it knows the account of an event sent on a shared subject.
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

// handle parses one PBX message and stores its event. Input that cannot be
// parsed is copied to the dead-letter stream and returned as bus.Permanent
// so the Processor terminates it; well-formed input of a kind pbxhooks does
// not handle is acked; a failed publish is returned as is so the message is
// redelivered later.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) error {
	subject := msg.Subject()
	a, ok := c.adapterFor(subject)
	if !ok {
		return c.reject(ctx, msg, "", bus.Permanent("no adapter for subject", fmt.Errorf("subject %q", subject)))
	}
	accountID := adapter.AccountFromSubject(subject)
	if err := event.ValidateAccountID(accountID); err != nil {
		return c.reject(ctx, msg, "", bus.Permanent("invalid account id in subject", err))
	}
	log := c.deps.Log.With(telemetry.KeyAccountID, accountID, telemetry.KeySubject, subject)
	if n := len(msg.Data()); n > c.deps.MaxEventBytes {
		return c.reject(ctx, msg, "", bus.Permanent("event too large", fmt.Errorf("%d bytes; at most %d", n, c.deps.MaxEventBytes)))
	}
	// The time the PBX stream stored the message is stable across
	// redeliveries, so a retried message yields the same event.
	receivedAt := time.Now()
	if md, err := msg.Metadata(); err == nil {
		receivedAt = md.Timestamp
	}
	ev, err := a.Parse(msg.Data(), accountID, receivedAt)
	if errors.Is(err, adapter.ErrIgnored) {
		log.DebugContext(ctx, "input ignored", "reason", err.Error())
		c.deps.Metrics.Event(a.Name, ingestmetrics.ResultIgnored)
		return nil
	}
	if err != nil {
		var verr *adapter.ValidationError
		if !errors.As(err, &verr) {
			// Not the input's fault (the ARI channel state could not be
			// read or written): retried, in order.
			return err
		}
		return c.reject(ctx, msg, verr.AccountID, bus.Permanent("invalid "+a.Name+" event", err))
	}
	pubCtx, cancel := context.WithTimeout(ctx, c.deps.PublishTimeout)
	defer cancel()
	if err := c.deps.Media.Attach(pubCtx, ev); err != nil {
		var verr *adapter.ValidationError
		if errors.As(err, &verr) {
			return c.reject(ctx, msg, ev.GetAccountId(), bus.Permanent("invalid "+a.Name+" media event", err))
		}
		return err
	}
	if err := c.deps.Publisher.Publish(pubCtx, ev); err != nil {
		if errors.Is(err, bus.ErrUnroutable) {
			return c.reject(ctx, msg, ev.GetAccountId(), bus.Permanent("event cannot be routed", err))
		}
		return err
	}
	log.DebugContext(ctx, "event stored", telemetry.KeyEventID, ev.GetId())
	return nil
}

// deadLetterRetry is the wait before retrying a message whose dead-letter
// copy could not be stored.
const deadLetterRetry = 5 * time.Second

// reject copies msg to the dead-letter stream with perr's reason and
// returns perr, so the Processor terminates msg only once the copy is
// stored. The copy is filed under owner when the parser found the account
// in the event (a shared pbx.<source>.any subject), else under the
// subject's account. A failed copy is retried: rejected input is never
// silently dropped.
func (c *Consumer) reject(ctx context.Context, msg jetstream.Msg, owner string, perr error) error {
	headers := nats.Header{}
	for k, v := range msg.Headers() {
		headers[k] = v
	}
	if owner != "" {
		headers.Set(bus.HeaderAccountID, owner)
	}
	if err := bus.PublishDeadLetter(ctx, c.deps.JS, msg.Subject(), headers, msg.Data(), perr.Error()); err != nil {
		return bus.RetryAfter(deadLetterRetry, fmt.Errorf("dead-letter copy of rejected input: %w", err))
	}
	reason := ingestmetrics.Reason(perr)
	if errors.Is(perr, bus.ErrUnroutable) {
		reason = ingestmetrics.ReasonUnroutable
	}
	c.deps.Metrics.DeadLetter(reason)
	if a, ok := c.adapterFor(msg.Subject()); ok {
		c.deps.Metrics.Event(a.Name, ingestmetrics.ResultRejected)
	}
	return perr
}

func (c *Consumer) adapterFor(subject string) (adapter.Adapter, bool) {
	for _, a := range c.deps.Adapters {
		if a.OwnsSubject(subject) {
			return a, true
		}
	}
	return adapter.Adapter{}, false
}
