// Package consume turns what PBXs publish on NATS (the PBX stream) into
// canonical events on EVENTS. A PBX message is acknowledged only after its
// event is stored, so a crash in between loses nothing: the message is
// redelivered and the publish deduplicated.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
)

// ackWait is how long a PBX message may be in process before JetStream
// redelivers it; parsing and one publish take far less.
const ackWait = 30 * time.Second

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
	// PublishTimeout bounds the wait for the EVENTS acknowledgement.
	PublishTimeout time.Duration
}

// Consumer is the ingest durable consumer on the PBX stream.
type Consumer struct {
	deps Deps
}

// New validates deps and returns a Consumer.
func New(deps Deps) (*Consumer, error) {
	if deps.JS == nil || deps.Publisher == nil || deps.Log == nil {
		return nil, errors.New("consume: JS, Publisher and Log are required")
	}
	if len(deps.Adapters) == 0 {
		return nil, errors.New("consume: at least one adapter is required")
	}
	if deps.MaxEventBytes <= 0 || deps.PublishTimeout <= 0 {
		return nil, errors.New("consume: MaxEventBytes and PublishTimeout must be positive")
	}
	return &Consumer{deps: deps}, nil
}

// Run consumes until ctx is cancelled, then lets in-flight messages finish
// (each is acked, retried or dead-lettered) and returns.
func (c *Consumer) Run(ctx context.Context) error {
	filters := make([]string, len(c.deps.Adapters))
	for i, a := range c.deps.Adapters {
		filters[i] = a.Subject
	}
	workers := max(c.deps.Workers, 1)
	p := &bus.Processor{
		JS: c.deps.JS,
		Spec: bus.ConsumerSpec{
			Stream:         bus.StreamPBX,
			Durable:        bus.ConsumerIngest,
			FilterSubjects: filters,
			AckWait:        ackWait,
			MaxAckPending:  workers * 4,
		},
		Handler:           c.handle,
		Log:               c.deps.Log,
		Workers:           workers,
		DeadLetterSubject: bus.SubjectDeadLetter,
	}
	return p.Run(ctx)
}

// handle parses one PBX message and stores its event. Input that cannot be
// parsed is returned as bus.Permanent so the Processor dead-letters and
// terminates it; a failed publish is returned as is so the message is
// redelivered later.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) error {
	subject := msg.Subject()
	a, ok := c.adapterFor(subject)
	if !ok {
		return bus.Permanent("no adapter for subject", fmt.Errorf("subject %q", subject))
	}
	accountID := adapter.AccountFromSubject(subject)
	if err := event.ValidateAccountID(accountID); err != nil {
		return bus.Permanent("invalid account id in subject", err)
	}
	log := c.deps.Log.With(telemetry.KeyAccountID, accountID, telemetry.KeySubject, subject)
	if n := len(msg.Data()); n > c.deps.MaxEventBytes {
		return bus.Permanent("event too large", fmt.Errorf("%d bytes; at most %d", n, c.deps.MaxEventBytes))
	}
	// The time the PBX stream stored the message is stable across
	// redeliveries, so a retried message yields the same event.
	receivedAt := time.Now()
	if md, err := msg.Metadata(); err == nil {
		receivedAt = md.Timestamp
	}
	ev, err := a.Parse(msg.Data(), accountID, receivedAt)
	if err != nil {
		return bus.Permanent("invalid "+a.Name+" event", err)
	}
	pubCtx, cancel := context.WithTimeout(ctx, c.deps.PublishTimeout)
	defer cancel()
	if err := c.deps.Publisher.Publish(pubCtx, ev); err != nil {
		if errors.Is(err, publish.ErrUnroutable) {
			return bus.Permanent("event cannot be routed", err)
		}
		return err
	}
	log.DebugContext(ctx, "event stored", telemetry.KeyEventID, ev.GetId())
	return nil
}

func (c *Consumer) adapterFor(subject string) (adapter.Adapter, bool) {
	for _, a := range c.deps.Adapters {
		if a.OwnsSubject(subject) {
			return a, true
		}
	}
	return adapter.Adapter{}, false
}
