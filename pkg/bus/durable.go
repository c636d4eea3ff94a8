package bus

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Defaults for the Processor's consumer upkeep.
const (
	// DefaultRecreateFor is long enough to ride out a stream being made
	// again by an operator or a JetStream leader election, short enough
	// that a consumer that cannot come back restarts the service.
	DefaultRecreateFor = time.Minute
	// DefaultConsumerCheck bounds both how long a consumer deleted without
	// notice goes unnoticed and how far behind the resume point may lag.
	DefaultConsumerCheck = 5 * time.Second
	// A lost consumer is made again after reopenBackoffMin, then after
	// waits doubling up to reopenBackoffMax.
	reopenBackoffMin = 500 * time.Millisecond
	reopenBackoffMax = 5 * time.Second
)

// errStopped is Ready's answer once Run has returned.
var errStopped = errors.New("consumer stopped")

// consumerStatus is Ready's answer: err is nil while Run consumes.
type consumerStatus struct{ err error }

func (p *Processor) setStatus(err error) { p.status.Store(&consumerStatus{err: err}) }

// Ready reports whether Run is consuming: an error before Run made its
// consumer, while a lost consumer is being made again, and after Run
// returned. It is the service's readiness check for the consumer, so a
// service that consumes nothing is not reported ready.
func (p *Processor) Ready(context.Context) error {
	st := p.status.Load()
	switch {
	case st == nil:
		return fmt.Errorf("consumer %s not started", p.Spec.Durable)
	case st.err != nil:
		return fmt.Errorf("consumer %s is not consuming: %w", p.Spec.Durable, st.err)
	}
	return nil
}

// resumePoint is where a consumer made again on a limits stream (EVENTS)
// starts: after the ack floor last seen, so every message not yet acked is
// delivered again (and at most
// the messages acked during the last CheckEvery come twice, which
// idempotent handlers and the DedupeWindow absorb). Starting from the
// stream's beginning instead would replay all of EVENTS, a week of events.
// A stream made again since (its creation time differs) starts from its
// beginning, since its sequences start over.
type resumePoint struct {
	// seq is the first stream sequence to deliver; 0 means the beginning.
	seq           atomic.Uint64
	streamCreated time.Time
}

// openConsumer makes the durable consumer, or updates an existing one to
// the spec, and moves from to it. An existing consumer keeps where it
// started, because JetStream cannot change a consumer's deliver policy or
// start sequence; a new one starts at from.
func (p *Processor) openConsumer(ctx context.Context, from *resumePoint) (jetstream.Consumer, error) {
	stream, err := p.JS.Stream(ctx, p.Spec.Stream)
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", p.Spec.Stream, err)
	}
	created := stream.CachedInfo().Created
	cfg := jetstream.ConsumerConfig{
		Durable:        p.Spec.Durable,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        p.Spec.AckWait,
		MaxAckPending:  p.Spec.MaxAckPending,
		FilterSubjects: p.Spec.FilterSubjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		MaxDeliver:     -1,
	}
	// Only a limits stream keeps acked messages; a work-queue stream drops
	// them, so there "all" is what is left, and JetStream allows nothing else.
	limits := stream.CachedInfo().Config.Retention == jetstream.LimitsPolicy
	if seq := from.seq.Load(); limits && seq > 1 && created.Equal(from.streamCreated) {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = seq
	}
	existing, err := stream.Consumer(ctx, p.Spec.Durable)
	switch {
	case err == nil:
		was := existing.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = was.DeliverPolicy, was.OptStartSeq, was.OptStartTime
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	default:
		return nil, fmt.Errorf("look up consumer %s on %s: %w", p.Spec.Durable, p.Spec.Stream, err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on %s: %w", p.Spec.Durable, p.Spec.Stream, err)
	}
	from.streamCreated = created
	from.seq.Store(cons.CachedInfo().AckFloor.Stream + 1)
	return cons, nil
}

// reopen makes a lost consumer again, retrying with backoff for
// RecreateFor. Ready reports the latest failure meanwhile.
func (p *Processor) reopen(ctx context.Context, from *resumePoint) (jetstream.Consumer, error) {
	limit := p.RecreateFor
	if limit <= 0 {
		limit = DefaultRecreateFor
	}
	giveUp := time.NewTimer(limit)
	defer giveUp.Stop()
	wait := reopenBackoffMin
	for {
		// Wait first: a consumer made again the instant it was deleted
		// races the server's removal of the old one's files (nats-server
		// 2.15 then fails the next update of the new one).
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		cons, err := p.openConsumer(ctx, from)
		if err == nil {
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.setStatus(err)
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil, fmt.Errorf("consumer %s lost: %w", p.Spec.Durable, err)
		}
		select {
		case <-giveUp.C:
			return nil, fmt.Errorf("consumer %s lost and not made again within %s: %w", p.Spec.Durable, limit, err)
		default:
		}
		wait = min(wait*2, reopenBackoffMax)
		p.Log.WarnContext(ctx, "cannot make the consumer again yet", telemetry.KeyConsumer, p.Spec.Durable,
			"retry_in", wait.String(), telemetry.KeyError, err)
	}
}

// watch checks every CheckEvery that the consumer exists, noting its ack
// floor in from. When the consumer or its stream is gone it stores why in
// gone and stops iter, which ends consume.
func (p *Processor) watch(ctx context.Context, cons jetstream.Consumer, iter jetstream.MessagesContext, from *resumePoint, gone *atomic.Pointer[error]) {
	every := p.CheckEvery
	if every <= 0 {
		every = DefaultConsumerCheck
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		info, err := cons.Info(ctx)
		switch {
		case err == nil:
			from.seq.Store(info.AckFloor.Stream + 1)
		case errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound):
			gone.Store(&err)
			iter.Stop()
			return
		}
	}
}

// Ensure makes the durable consumer, or updates an existing one to the
// spec, without consuming: Run does the same at its start. Calling it
// first lets a caller order the updates of consumers whose filters must
// not overlap on a work-queue stream.
func (p *Processor) Ensure(ctx context.Context) error {
	_, err := p.openConsumer(ctx, &resumePoint{})
	return err
}
