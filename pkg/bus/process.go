package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Handler processes one JetStream message. It must be idempotent: a message
// may be delivered more than once. Its error decides what happens to the
// message: nil acks it, a PermanentError terminates it (after a dead-letter
// copy when the Processor has a dead-letter subject), a RetryError or any
// other error asks for redelivery after a delay.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// PermanentError marks input that no retry can fix.
type PermanentError struct {
	Reason string
	Err    error
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError with a human-readable reason.
func Permanent(reason string, err error) error { return &PermanentError{Reason: reason, Err: err} }

// RetryError asks for redelivery after exactly Delay.
type RetryError struct {
	Delay time.Duration
	Err   error
}

func (e *RetryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.Delay, e.Err) }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter wraps err so the message is redelivered after delay.
func RetryAfter(delay time.Duration, err error) error { return &RetryError{Delay: delay, Err: err} }

// DeferredError asks for redelivery after Delay when the handler chose not
// to process the message yet (say, its destination is busy). It is routine,
// not a failure: it is logged at debug level and not recorded on the span.
type DeferredError struct {
	Delay  time.Duration
	Reason string
}

func (e *DeferredError) Error() string { return fmt.Sprintf("deferred %s: %s", e.Delay, e.Reason) }

// Defer asks for redelivery after delay without reporting a failure.
func Defer(delay time.Duration, reason string) error {
	return &DeferredError{Delay: delay, Reason: reason}
}

// ConsumerSpec describes a durable pull consumer.
type ConsumerSpec struct {
	Stream         string
	Durable        string
	FilterSubjects []string
	// AckWait is how long a message may be in process before JetStream
	// redelivers it; handlers that take longer must call InProgress.
	AckWait time.Duration
	// MaxAckPending bounds the messages in flight across all replicas.
	MaxAckPending int
}

// Processor runs a Handler over a durable consumer with bounded concurrency.
type Processor struct {
	JS      jetstream.JetStream
	Spec    ConsumerSpec
	Handler Handler
	Log     *slog.Logger
	Workers int
	// DeadLetterSubject, when set, receives a copy of every message whose
	// handler returned a PermanentError, with the reason in a header.
	DeadLetterSubject string
	// RetryDelay gives the delay before redelivery number n (1-based) of a
	// message whose handler failed without saying when to retry.
	RetryDelay func(numDelivered uint64) time.Duration
	// RecreateFor bounds how long Run keeps trying to make a lost consumer
	// again before it fails (DefaultRecreateFor).
	RecreateFor time.Duration
	// CheckEvery is how often Run checks that its consumer still exists and
	// notes its ack floor (DefaultConsumerCheck).
	CheckEvery time.Duration

	// status is what Ready reports; nil until Run starts.
	status atomic.Pointer[consumerStatus]
}

// DefaultRetryDelay backs off from one second to one minute.
func DefaultRetryDelay(n uint64) time.Duration {
	d := time.Second << min(n, 6)
	return min(d, time.Minute)
}

// Run consumes until ctx is cancelled, then stops fetching, lets in-flight
// handlers finish and returns nil. Messages not yet acked are redelivered by
// JetStream to another replica or after restart.
//
// Only a cancelled ctx is a clean stop. When the consumer goes away under a
// running Run (an operator deleted it or its stream, or its iterator closed
// for another reason), Run makes it again, resuming after the last ack floor
// it saw (see resumePoint), and Ready reports the loss until it consumes
// again. When the consumer cannot be made again within RecreateFor, Run
// returns the error, so the service exits non-zero and its supervisor
// restarts it. A failure to make the consumer at start is returned at once.
func (p *Processor) Run(ctx context.Context) error {
	defer p.setStatus(errStopped)
	from := &resumePoint{}
	cons, err := p.openConsumer(ctx, from)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	workers := max(p.Workers, 1)
	// Handlers run on a context that outlives ctx's cancellation so a drain
	// lets in-flight work finish and ack instead of failing it.
	handlerCtx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	dispatch := func(msg jetstream.Msg) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			p.Process(handlerCtx, msg, p.Handler)
		}()
	}
	for {
		lost := p.consume(ctx, cons, from, workers, dispatch)
		if lost == nil {
			return nil
		}
		p.setStatus(lost)
		p.Log.ErrorContext(ctx, "consumer lost; making it again", telemetry.KeyConsumer, p.Spec.Durable,
			"resume_at", from.seq.Load(), telemetry.KeyError, lost)
		if cons, err = p.reopen(ctx, from); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.Log.InfoContext(ctx, "consumer made again", telemetry.KeyConsumer, p.Spec.Durable)
	}
}

// consume runs the consumer's messages through dispatch until ctx ends (nil)
// or the consumer is lost (the reason). Meanwhile it keeps from up to date
// with the consumer's ack floor.
func (p *Processor) consume(ctx context.Context, cons jetstream.Consumer, from *resumePoint, workers int, dispatch func(jetstream.Msg)) error {
	// The batch matches the workers so a stopped replica holds few messages.
	iter, err := cons.Messages(jetstream.PullMaxMessages(workers * 2))
	if err != nil {
		return fmt.Errorf("consume %s: %w", p.Spec.Durable, err)
	}
	defer iter.Stop()
	stopDrain := context.AfterFunc(ctx, iter.Drain)
	defer stopDrain()
	p.setStatus(nil)

	// The watch notes the ack floor in from and stops iter when it finds
	// the consumer gone (gone says why): a deletion whose notice never
	// reached the iterator would otherwise leave it waiting forever.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watching sync.WaitGroup
	var gone atomic.Pointer[error]
	watching.Go(func() { p.watch(watchCtx, cons, iter, from, &gone) })
	defer func() { stopWatch(); watching.Wait() }()

	for {
		msg, err := iter.Next()
		if err == nil {
			dispatch(msg)
			continue
		}
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
			errors.Is(err, jetstream.ErrBadRequest) {
			if ctx.Err() != nil {
				return nil
			}
			stopWatch()
			watching.Wait()
			if why := gone.Load(); why != nil {
				err = *why
			}
			return fmt.Errorf("consumer %s stopped: %w", p.Spec.Durable, err)
		}
		p.Log.WarnContext(ctx, "fetch failed", telemetry.KeyConsumer, p.Spec.Durable, telemetry.KeyError, err)
	}
}

var tracer = otel.Tracer("github.com/pbxhooks/pbxhooks/pkg/bus")

// Process runs handler over one message and acks, naks or terminates it
// by the handler's error, as Run does for every message it fetches. It
// serves messages fetched outside Run (say, one at a time from a consumer
// of their own) with the same settling rules and tracing.
func (p *Processor) Process(ctx context.Context, msg jetstream.Msg, handler Handler) {
	ctx = telemetry.ExtractNATS(ctx, msg.Headers())
	ctx, span := tracer.Start(ctx, p.Spec.Durable+" process",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(telemetry.MessagingSystemNATS, telemetry.MessagingOperationProcess,
			attribute.String("messaging.destination.name", msg.Subject()),
			attribute.String("messaging.consumer.group.name", p.Spec.Durable)))
	defer span.End()

	err := handler(ctx, msg)
	if err == nil {
		if ackErr := msg.DoubleAck(ctx); ackErr != nil {
			p.Log.WarnContext(ctx, "ack failed; message will be redelivered", telemetry.KeySubject, msg.Subject(), telemetry.KeyError, ackErr)
		}
		return
	}
	var deferred *DeferredError
	if errors.As(err, &deferred) {
		p.Log.DebugContext(ctx, "message deferred", telemetry.KeySubject, msg.Subject(), "delay", deferred.Delay.String(), "reason", deferred.Reason)
		if nakErr := msg.NakWithDelay(deferred.Delay); nakErr != nil {
			p.Log.WarnContext(ctx, "nak failed; message will be redelivered after ack wait", telemetry.KeyError, nakErr)
		}
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())

	var permanent *PermanentError
	if errors.As(err, &permanent) {
		p.terminate(ctx, msg, permanent)
		return
	}
	delay := p.retryDelay(msg)
	var retry *RetryError
	if errors.As(err, &retry) {
		delay = retry.Delay
	}
	p.Log.WarnContext(ctx, "handler failed; will retry", telemetry.KeySubject, msg.Subject(), "delay", delay.String(), telemetry.KeyError, err)
	if nakErr := msg.NakWithDelay(delay); nakErr != nil {
		p.Log.WarnContext(ctx, "nak failed; message will be redelivered after ack wait", telemetry.KeyError, nakErr)
	}
}

func (p *Processor) retryDelay(msg jetstream.Msg) time.Duration {
	schedule := p.RetryDelay
	if schedule == nil {
		schedule = DefaultRetryDelay
	}
	var n uint64 = 1
	if md, err := msg.Metadata(); err == nil {
		n = md.NumDelivered
	}
	return schedule(n)
}

// terminate copies the message to the dead-letter subject (when configured)
// and only then terminates it, so rejected input is never silently dropped.
func (p *Processor) terminate(ctx context.Context, msg jetstream.Msg, perr *PermanentError) {
	p.Log.WarnContext(ctx, "message rejected", telemetry.KeySubject, msg.Subject(), "reason", perr.Error())
	if p.DeadLetterSubject != "" {
		if err := PublishDeadLetter(ctx, p.JS, msg.Subject(), msg.Headers(), msg.Data(), perr.Error()); err != nil {
			p.Log.ErrorContext(ctx, "dead-letter copy failed; will retry", telemetry.KeyError, err)
			_ = msg.NakWithDelay(5 * time.Second)
			return
		}
	}
	if err := msg.TermWithReason(truncateReason(perr.Error())); err != nil {
		p.Log.WarnContext(ctx, "term failed", telemetry.KeyError, err)
	}
}

// PublishDeadLetter stores rejected input with its reason and origin. The
// message id is derived from the source subject and body so the copy of a
// redelivered message is stored once. The copy goes to the account's
// dead-letter subject when the account is known from the HeaderAccountID
// header or from the source subject's last token (pbx.<source>.<account_id>).
func PublishDeadLetter(ctx context.Context, js jetstream.JetStream, sourceSubject string, headers nats.Header, data []byte, reason string) error {
	out := nats.NewMsg(DeadLetterSubject(deadLetterAccount(sourceSubject, headers)))
	out.Data = data
	for k, v := range headers {
		if k == HeaderMsgID {
			continue
		}
		out.Header[k] = v
	}
	sum := sha256.Sum256(append([]byte(sourceSubject+"\n"), data...))
	out.Header.Set(HeaderMsgID, "deadletter-"+hex.EncodeToString(sum[:16]))
	out.Header.Set(HeaderDeadLetterReason, truncateReason(reason))
	out.Header.Set(HeaderDeadLetterSource, sourceSubject)
	_, err := js.PublishMsg(ctx, out)
	if err != nil {
		return fmt.Errorf("publish dead letter: %w", err)
	}
	return nil
}

func truncateReason(s string) string {
	const limit = 1024
	if len(s) > limit {
		return s[:limit]
	}
	return s
}

func deadLetterAccount(sourceSubject string, headers nats.Header) string {
	if a := headers.Get(HeaderAccountID); a != "" {
		return a
	}
	tokens := strings.Split(sourceSubject, ".")
	if len(tokens) == 3 && tokens[0] == "pbx" {
		return tokens[2]
	}
	return ""
}
