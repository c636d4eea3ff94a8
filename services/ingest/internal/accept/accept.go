// Package accept is ingest's one intake pipeline. Both transports, the NATS
// consumer of the PBX stream (consume) and the HTTP intake (httpapi), hand
// each raw PBX event to Pipeline.Accept and map the Outcome to their own
// answer: ack, term or nak on NATS; 202, 400 or 503 over HTTP. So parsing,
// the media check, the EVENTS publish and the dead-letter copy of rejected
// input happen the same way whichever way an event arrived.
//
// Who may send an event for which account is the transport's decision,
// made before Accept: the NATS server's per-PBX-user subject permissions
// (pkg/natsauth) and, over HTTP, the credential checked before the body is
// read (pkg/credential). Input.AccountID is the account so authorised.
package accept

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ingestmetrics"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
)

// DeadLetterRetry is the wait before input whose dead-letter copy could not
// be stored is tried again (a NATS redelivery, an HTTP Retry-After).
const DeadLetterRetry = 5 * time.Second

// MaxDeadLetterBytes keeps a dead-letter copy within NATS's default message
// size; a whole rejected HTTP batch may be larger.
const MaxDeadLetterBytes = 1 << 20

// Result is what became of one input event.
type Result int

const (
	// Stored: the canonical event is on EVENTS.
	Stored Result = iota
	// Duplicate: EVENTS already held the event (a resend within
	// bus.DedupeWindow); as good as Stored.
	Duplicate
	// Ignored: well-formed input of a kind pbxhooks does not turn into an
	// event (a FreeSWITCH HEARTBEAT); nothing is stored.
	Ignored
	// Rejected: input no retry can fix. Its copy is stored on the
	// dead-letter stream; only then is this the outcome.
	Rejected
	// Unavailable: a dependency (the event store, the media store, the
	// dead-letter stream, the ARI channel state) failed; the same input
	// may succeed later and must be retried, not dropped.
	Unavailable
)

// Outcome is Accept's answer.
type Outcome struct {
	Result Result
	// Event is the stored event (Stored, Duplicate).
	Event *pbxhooksv1.Event
	// Invalid lists what is wrong with rejected input, field by field, for
	// the sender's answer; nil only for input Reject refused before any
	// adapter saw it.
	Invalid *adapter.ValidationError
	// Err is the cause of Rejected (with the dead-letter reason) and of
	// Unavailable.
	Err error
	// Store names what failed for Unavailable ("event store", "media
	// store", "dead-letter stream", "channel state"), for the caller's answer.
	Store string
	// RetryAfter is the wait the failure asks for (Unavailable); zero
	// leaves it to the transport's own backoff.
	RetryAfter time.Duration
}

// Input is one raw PBX event and where it came from.
type Input struct {
	Adapter adapter.Adapter
	// AccountID is the account the transport authorised: the subject's or
	// the route's (adapter.AnyAccount on shared ones, where the parser
	// reads the account from the event).
	AccountID string
	Raw       []byte
	// ReceivedAt is when pbxhooks first stored or received the input; it
	// must be stable across redeliveries so the event is too.
	ReceivedAt time.Time
	// Source is where the input came from, kept on the dead-letter copy:
	// the PBX subject, or the HTTP method and path.
	Source string
	// Headers are copied onto the dead-letter copy (a PBX message's own
	// headers); may be nil.
	Headers nats.Header
}

// Deps are what the pipeline needs.
type Deps struct {
	JS        jetstream.JetStream
	Publisher *publish.Publisher
	Media     *media.Store
	Log       *slog.Logger
	// MaxEventBytes rejects larger input as invalid.
	MaxEventBytes int
	// PublishTimeout bounds the media lookup and the wait for each
	// JetStream acknowledgement.
	PublishTimeout time.Duration
	// Metrics counts rejected and ignored input (the Publisher counts the
	// rest); nil counts nothing.
	Metrics *ingestmetrics.Metrics
}

// Pipeline accepts PBX input for both transports.
type Pipeline struct{ deps Deps }

// New validates deps and returns a Pipeline.
func New(deps Deps) (*Pipeline, error) {
	if deps.JS == nil || deps.Publisher == nil || deps.Media == nil || deps.Log == nil {
		return nil, errors.New("accept: JS, Publisher, Media and Log are required")
	}
	if deps.MaxEventBytes <= 0 || deps.PublishTimeout <= 0 {
		return nil, errors.New("accept: MaxEventBytes and PublishTimeout must be positive")
	}
	return &Pipeline{deps: deps}, nil
}

// Accept parses in, checks the file a media event names, and stores the
// event on EVENTS. Input that is wrong is copied to the dead-letter stream
// and answered Rejected only once the copy is stored; a failed copy is
// Unavailable, so the transport retries and rejected input is never
// silently lost.
func (p *Pipeline) Accept(ctx context.Context, in Input) Outcome {
	a := in.Adapter
	if n := len(in.Raw); n > p.deps.MaxEventBytes {
		verr := adapter.Invalid(adapter.BodyField, adapter.RuleMaxLength, fmt.Sprintf("the event has %d bytes; at most %d are accepted", n, p.deps.MaxEventBytes))
		return p.Reject(ctx, in, "", verr, bus.Permanent("event too large", verr))
	}
	ev, err := a.Parse(in.Raw, in.AccountID, in.ReceivedAt)
	if errors.Is(err, adapter.ErrIgnored) {
		p.deps.Log.DebugContext(ctx, "input ignored", telemetry.KeyAccountID, in.AccountID, "reason", err.Error())
		p.deps.Metrics.Event(a.Name, ingestmetrics.ResultIgnored)
		return Outcome{Result: Ignored}
	}
	if err != nil {
		var verr *adapter.ValidationError
		if !errors.As(err, &verr) {
			// Not the input's fault (the ARI channel state could not be
			// read or written): retried, in order.
			return Outcome{Result: Unavailable, Err: err, Store: a.Name + " channel state"}
		}
		return p.Reject(ctx, in, verr.AccountID, verr, bus.Permanent("invalid "+a.Name+" event", err))
	}
	pubCtx, cancel := context.WithTimeout(ctx, p.deps.PublishTimeout)
	defer cancel()
	if err := p.deps.Media.Attach(pubCtx, ev); err != nil {
		var verr *adapter.ValidationError
		if errors.As(err, &verr) {
			return p.Reject(ctx, in, ev.GetAccountId(), verr, bus.Permanent("invalid "+a.Name+" media event", err))
		}
		p.deps.Log.WarnContext(ctx, "media lookup failed", telemetry.KeyAccountID, ev.GetAccountId(), telemetry.KeyError, err)
		return Outcome{Result: Unavailable, Err: err, Store: "media store"}
	}
	duplicate, err := p.deps.Publisher.Store(pubCtx, ev)
	switch {
	case errors.Is(err, bus.ErrUnroutable):
		return p.Reject(ctx, in, ev.GetAccountId(), adapter.Invalid(adapter.BodyField, adapter.RuleFormat, err.Error()),
			bus.Permanent("event cannot be routed", err))
	case err != nil:
		p.deps.Log.WarnContext(ctx, "event not acknowledged by JetStream", telemetry.KeyAccountID, ev.GetAccountId(), telemetry.KeyError, err)
		return Outcome{Result: Unavailable, Err: err, Store: "event store"}
	case duplicate:
		return Outcome{Result: Duplicate, Event: ev}
	}
	return Outcome{Result: Stored, Event: ev}
}

// Reject copies in to the dead-letter stream with cause's text as the
// reason and answers Rejected once the copy is stored, Unavailable (retry
// after DeadLetterRetry) when it is not. The copy is filed under owner when
// the parser found the account in the event (a shared route or subject),
// else under in.AccountID. It is for input refused before Accept could
// parse it (no adapter owns the subject) as much as for Accept itself.
func (p *Pipeline) Reject(ctx context.Context, in Input, owner string, invalid *adapter.ValidationError, cause error) Outcome {
	account := in.AccountID
	if owner != "" {
		account = owner
	}
	// The trace of this attempt, unless the PBX message carries its own;
	// the account is ours to say, never the sender's header.
	headers := nats.Header{}
	telemetry.InjectNATS(ctx, headers)
	for k, v := range in.Headers {
		headers[k] = v
	}
	headers.Del(bus.HeaderAccountID)
	if account != "" {
		headers.Set(bus.HeaderAccountID, account)
	}
	data, reason := in.Raw, cause.Error()
	if len(data) > MaxDeadLetterBytes {
		data = data[:MaxDeadLetterBytes]
		reason = fmt.Sprintf("(copy truncated to the first %d bytes) %s", MaxDeadLetterBytes, reason)
	}
	dlCtx, cancel := context.WithTimeout(ctx, p.deps.PublishTimeout)
	defer cancel()
	if err := bus.PublishDeadLetter(dlCtx, p.deps.JS, in.Source, headers, data, reason); err != nil {
		p.deps.Log.ErrorContext(ctx, "dead-letter copy failed; the input will be retried", telemetry.KeyAccountID, account, telemetry.KeyError, err)
		return Outcome{Result: Unavailable, Store: "dead-letter stream", RetryAfter: DeadLetterRetry,
			Err: fmt.Errorf("dead-letter copy of rejected input: %w", err)}
	}
	p.deps.Log.InfoContext(ctx, "event rejected", telemetry.KeyAccountID, account, "reason", reason)
	metricReason := ingestmetrics.Reason(cause)
	if errors.Is(cause, bus.ErrUnroutable) {
		metricReason = ingestmetrics.ReasonUnroutable
	}
	p.deps.Metrics.DeadLetter(metricReason)
	if in.Adapter.Name != "" {
		p.deps.Metrics.Event(in.Adapter.Name, ingestmetrics.ResultRejected)
	}
	return Outcome{Result: Rejected, Invalid: invalid, Err: cause}
}
