// Package fanout consumes canonical events and publishes one rendered
// delivery per matching hook.
//
// An event is acked only once JetStream has stored every one of its
// deliveries. A failure anywhere asks for the event again; re-publishing is
// safe because each delivery carries bus.DeliveryID (event id + ":" + hook
// id) as its Nats-Msg-Id and the DELIVERIES stream drops duplicates within
// bus.DedupeWindow.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/match"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/render"
)

// HookSource returns an account's enabled hooks; *hookcache.Cache is one.
// Lookup may wait (briefly) for an announced change of that account.
type HookSource interface {
	Lookup(ctx context.Context, accountID string) []store.Hook
}

// HookByID reads one hook whatever its state; *store.Queries implements it.
// Test events name their hook, which may be disabled and so absent from the
// HookSource.
type HookByID interface {
	GetHookByID(ctx context.Context, id string) (store.Hook, error)
}

// Defaults for Fanout's tunables.
const (
	// DefaultPublishTimeout bounds the wait for one batch of PubAcks; past
	// it the event is retried.
	DefaultPublishTimeout = 10 * time.Second
	// DefaultPublishBatch bounds the async publishes in flight for one
	// event, well under the client's own limit on pending async publishes.
	DefaultPublishBatch = 256
)

// Fanout is the EVENTS handler of the matcher.
type Fanout struct {
	JS    jetstream.JetStream
	Hooks HookSource
	// HookByID loads the hook a test event names.
	HookByID HookByID
	// Render turns an event into one hook's request.
	Render *render.Renderer
	Log    *slog.Logger
	// Now stamps Delivery.created_at; time.Now when nil.
	Now            func() time.Time
	PublishTimeout time.Duration
	PublishBatch   int
	// Delivered counts the deliveries stored on DELIVERIES
	// (pbxhooks_matcher_deliveries_total); nil counts nothing.
	Delivered prometheus.Counter

	// media is the media bucket once found, so a media event costs one
	// lookup of its file, not a lookup of the bucket as well.
	media atomic.Pointer[jetstream.ObjectStore]
}

// NewDeliveredCounter returns the counter for Fanout.Delivered.
func NewDeliveredCounter() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Name: "matcher_deliveries_total",
		Help: "Deliveries the matcher stored on the DELIVERIES stream, one per matching hook of an event (a redelivered event's are counted again).",
	})
}

var tracer = otel.Tracer("github.com/pbxhooks/pbxhooks/services/matcher/internal/fanout")

// Processor returns the consumer that runs Handle over every event.
func (f *Fanout) Processor(workers int) *bus.Processor {
	return &bus.Processor{
		JS: f.JS,
		Spec: bus.ConsumerSpec{
			Stream:         bus.StreamEvents,
			Durable:        bus.ConsumerMatcher,
			FilterSubjects: []string{bus.SubjectEventsAll},
			// A handler waits at most a few PublishTimeouts; the margin
			// keeps a slow fan-out from being redelivered mid-way.
			AckWait: max(3*f.publishTimeout(), 30*time.Second),
		},
		Handler: f.Handle,
		Log:     f.Log,
		Workers: workers,
	}
}

// Handle fans one event out. It returns a bus.PermanentError for input that
// can never be processed and a plain error (retry) when a publish failed.
func (f *Fanout) Handle(ctx context.Context, msg jetstream.Msg) error {
	var ev pbxhooksv1.Event
	if err := proto.Unmarshal(msg.Data(), &ev); err != nil {
		return bus.Permanent("event is not a valid protobuf Event", err)
	}
	if ev.GetId() == "" {
		return bus.Permanent("event has no id", nil)
	}
	if err := event.ValidateAccountID(ev.GetAccountId()); err != nil {
		return bus.Permanent("event account id", err)
	}
	log := f.Log.With(telemetry.KeyEventID, ev.GetId(), telemetry.KeyAccountID, ev.GetAccountId())

	var matched []*store.Hook
	if testHookID := msg.Headers().Get(bus.HeaderTestHookID); testHookID != "" {
		hook, err := f.testHook(ctx, testHookID, &ev)
		if err != nil {
			return err
		}
		matched = []*store.Hook{hook}
	} else {
		matched = match.Select(f.Hooks.Lookup(ctx, ev.GetAccountId()), &ev)
	}
	if len(matched) == 0 {
		return nil
	}
	if err := f.dropForeignMedia(ctx, &ev); err != nil {
		return err
	}
	out := make([]*nats.Msg, 0, len(matched))
	// One producer span per delivery, its context carried by the message,
	// so each callback's trace leads back through its own publish.
	spans := make([]trace.Span, 0, len(matched))
	defer func() {
		for _, span := range spans {
			span.End()
		}
	}()
	for _, hook := range matched {
		pubCtx, span := tracer.Start(ctx, "deliveries publish", trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(telemetry.MessagingSystemNATS, telemetry.MessagingOperationPublish))
		m, err := f.deliveryMsg(pubCtx, hook, &ev, "")
		if err != nil {
			span.End()
			// Only this hook's configuration can fix it (say, bad
			// custom_data); the other hooks must still hear the event.
			log.ErrorContext(ctx, "hook skipped: delivery cannot be built", telemetry.KeyHookID, hook.ID, telemetry.KeyError, err)
			continue
		}
		span.SetAttributes(semconv.MessagingDestinationName(m.Subject), semconv.MessagingMessageID(m.Header.Get(bus.HeaderMsgID)))
		spans = append(spans, span)
		out = append(out, m)
	}
	for start := 0; start < len(out); start += f.publishBatch() {
		end := min(start+f.publishBatch(), len(out))
		if err := f.publishAll(ctx, out[start:end]); err != nil {
			for _, span := range spans[start:end] {
				span.SetStatus(codes.Error, err.Error())
			}
			return fmt.Errorf("fan out event %s: %w", ev.GetId(), err)
		}
		if f.Delivered != nil {
			f.Delivered.Add(float64(end - start))
		}
	}
	log.DebugContext(ctx, "event fanned out", "deliveries", len(out))
	return nil
}

// dropForeignMedia removes the file reference of a media event whose file
// the event's account does not own: another account's, one put into the
// bucket without an owner, or one that is gone. Ingest already refuses such
// events; this keeps the matcher from ever signing a download link to a
// file that is not the account's, whoever published the event. The event
// is still delivered (the call happened), without a link. A failed lookup
// is retried.
func (f *Fanout) dropForeignMedia(ctx context.Context, ev *pbxhooksv1.Event) error {
	media := ev.GetMedia()
	if ev.GetKind() != event.KindMedia || media.GetMediaId() == "" {
		return nil
	}
	objects, err := f.mediaBucket(ctx)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		err = bus.ErrMediaNotFound
	} else if err == nil {
		_, err = bus.OwnedMedia(ctx, objects, media.GetMediaId(), ev.GetAccountId())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bus.ErrMediaNotFound):
		f.Log.WarnContext(ctx, "media event names no file of its account; delivered without a link",
			telemetry.KeyEventID, ev.GetId(), telemetry.KeyAccountID, ev.GetAccountId(), "media_id", media.GetMediaId())
		media.MediaId, media.ObjectName = "", ""
		return nil
	default:
		// The bucket may have been removed: the retry looks it up again.
		f.media.Store(nil)
		return fmt.Errorf("check media of event %s: %w", ev.GetId(), err)
	}
}

// mediaBucket returns the media bucket, looked up once it exists.
func (f *Fanout) mediaBucket(ctx context.Context) (jetstream.ObjectStore, error) {
	if objects := f.media.Load(); objects != nil {
		return *objects, nil
	}
	objects, err := f.JS.ObjectStore(ctx, bus.MediaBucket)
	if err != nil {
		return nil, err
	}
	f.media.Store(&objects)
	return objects, nil
}

// testHook loads the one hook a test event is for. The hook must belong to
// the event's account; it is delivered to even when disabled or of a type
// the event would not match, because the customer asked to test exactly it.
func (f *Fanout) testHook(ctx context.Context, hookID string, ev *pbxhooksv1.Event) (*store.Hook, error) {
	if f.HookByID == nil {
		return nil, errors.New("test event: no hook store configured")
	}
	if err := bus.ValidateToken(hookID); err != nil {
		return nil, bus.Permanent("test event names an invalid hook id", err)
	}
	hook, err := f.HookByID.GetHookByID(ctx, hookID)
	if store.IsNotFound(err) {
		return nil, bus.Permanent("test event names a hook that does not exist", fmt.Errorf("hook %s", hookID))
	}
	if err != nil {
		return nil, fmt.Errorf("load test hook %s: %w", hookID, err)
	}
	if hook.AccountID != ev.GetAccountId() {
		return nil, bus.Permanent("test event names a hook of another account", fmt.Errorf("hook %s", hookID))
	}
	return &hook, nil
}

// deliveryMsg renders ev for hook. A resendID makes it a resend (see
// Resend): no retries, and a message id of its own.
func (f *Fanout) deliveryMsg(ctx context.Context, hook *store.Hook, ev *pbxhooksv1.Event, resendID string) (*nats.Msg, error) {
	subject, err := bus.DeliverySubject(ev.GetAccountId(), hook.ID)
	if err != nil {
		return nil, err
	}
	req, err := f.Render.Render(hook, ev)
	if err != nil {
		return nil, err
	}
	id := bus.DeliveryID(ev.GetId(), hook.ID)
	delivery := &pbxhooksv1.Delivery{
		Id:              id,
		AccountId:       ev.GetAccountId(),
		HookId:          hook.ID,
		EventId:         ev.GetId(),
		Method:          req.Method,
		Url:             req.URL,
		ContentType:     req.ContentType,
		Body:            req.Body,
		Retries:         max(hook.Retries, 0),
		CreatedAt:       timestamppb.New(f.now()),
		EventOccurredAt: ev.GetOccurredAt(),
		EventReceivedAt: ev.GetReceivedAt(),
	}
	msgID := id
	if resendID != "" {
		delivery.ResendId, delivery.Retries = resendID, 0
		msgID = bus.ResendMsgID(resendID, id)
	}
	data, err := proto.Marshal(delivery)
	if err != nil {
		return nil, fmt.Errorf("encode delivery %s: %w", id, err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(bus.HeaderMsgID, msgID)
	telemetry.InjectNATS(ctx, m.Header)
	return m, nil
}

// publishAll publishes msgs asynchronously and waits for every PubAck. A
// duplicate PubAck (already stored by an earlier try) counts as stored.
func (f *Fanout) publishAll(ctx context.Context, msgs []*nats.Msg) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	var errs []error
	for _, m := range msgs {
		fut, err := f.JS.PublishMsgAsync(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("publish %s: %w", m.Subject, err))
			break
		}
		futures = append(futures, fut)
	}
	// Every future is awaited even after a failure, so no publish of this
	// event is still in flight when the handler returns.
	timeout := time.NewTimer(f.publishTimeout())
	defer timeout.Stop()
	for _, fut := range futures {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			errs = append(errs, fmt.Errorf("publish %s: %w", fut.Msg().Subject, err))
		case <-timeout.C:
			return errors.Join(append(errs, fmt.Errorf("no PubAck within %s", f.publishTimeout()))...)
		case <-ctx.Done():
			return errors.Join(append(errs, ctx.Err())...)
		}
	}
	return errors.Join(errs...)
}

func (f *Fanout) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fanout) publishTimeout() time.Duration {
	if f.PublishTimeout > 0 {
		return f.PublishTimeout
	}
	return DefaultPublishTimeout
}

func (f *Fanout) publishBatch() int {
	if f.PublishBatch > 0 {
		return f.PublishBatch
	}
	return DefaultPublishBatch
}
