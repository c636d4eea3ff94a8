package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// Resend tunables.
const (
	// resendWorkers bounds the resend requests one replica handles at once.
	resendWorkers = 8
	// resendTimeout bounds one request: the search of EVENTS and the
	// DELIVERIES publish. The API waits a little longer for the reply.
	resendTimeout = 20 * time.Second
	// resendClockSkew is how much later than the first attempt's time (the
	// deliverer's clock) the event's stored time (the NATS server's) may be.
	resendClockSkew = time.Minute
	// eventSearchBatch is how many events one fetch of the search reads.
	eventSearchBatch = 256
)

// eventSearchWindows are how far back from the first attempt the search for
// a resent delivery's event reaches, window by window: an event is stored
// moments before its delivery's first attempt, so the first window finds
// almost every one; the last covers EVENTS' retention (a week by
// default) for a delivery first attempted after a long backlog.
var eventSearchWindows = []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour, 8 * 24 * time.Hour}

// errEventGone: EVENTS no longer holds the event.
var errEventGone = errors.New("the event is no longer stored (EVENTS keeps events for its retention)")

// ServeResends answers bus.ResendRequest on bus.SubjectResendRequests (one
// replica of the queue group each) until ctx ends, then lets the requests in
// hand finish.
func (f *Fanout) ServeResends(ctx context.Context, nc *nats.Conn) error {
	slots := make(chan struct{}, resendWorkers)
	var inFlight sync.WaitGroup
	sub, err := nc.QueueSubscribe(bus.SubjectResendRequests, bus.QueueMatcher, func(m *nats.Msg) {
		// Blocking here holds further requests in the subscription's
		// buffer: back-pressure rather than unbounded goroutines.
		slots <- struct{}{}
		inFlight.Go(func() {
			defer func() { <-slots }()
			f.answerResend(ctx, m)
		})
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", bus.SubjectResendRequests, err)
	}
	<-ctx.Done()
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		f.Log.Warn("resend subscription not removed", telemetry.KeyError, err)
	}
	inFlight.Wait()
	return nil
}

func (f *Fanout) answerResend(ctx context.Context, m *nats.Msg) {
	var req bus.ResendRequest
	reply := bus.ResendReply{}
	if err := json.Unmarshal(m.Data, &req); err != nil {
		reply.Error = "resend request is not valid JSON"
	} else if err := req.Valid(); err != nil {
		reply.Error = err.Error()
	} else {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resendTimeout)
		reply = f.Resend(ctx, req)
		cancel()
	}
	data, err := json.Marshal(reply)
	if err == nil {
		err = m.Respond(data)
	}
	if err != nil {
		f.Log.Warn("resend reply not sent", telemetry.KeyAccountID, req.AccountID, telemetry.KeyError, err)
	}
}

// Resend renders req's event for req's hook again and stores the delivery
// on DELIVERIES with the original delivery id (the webhook-id receivers
// dedupe on), marked with req.ResendID, under a message id of its own
// (bus.ResendMsgID): the original's id may still sit in the dedupe window,
// where it would drop the resend, while a repeated request is dropped.
func (f *Fanout) Resend(ctx context.Context, req bus.ResendRequest) bus.ResendReply {
	log := f.Log.With(telemetry.KeyAccountID, req.AccountID, telemetry.KeyHookID, req.HookID, telemetry.KeyEventID, req.EventID)
	hook, err := f.HookByID.GetHookByID(ctx, req.HookID)
	if store.IsNotFound(err) || (err == nil && hook.AccountID != req.AccountID) {
		return bus.ResendReply{Error: "the hook no longer exists", NotFound: true}
	}
	if err != nil {
		log.WarnContext(ctx, "resend: hook lookup failed", telemetry.KeyError, err)
		return bus.ResendReply{Error: "the hook could not be read"}
	}
	ev, err := f.findEvent(ctx, req)
	if errors.Is(err, errEventGone) {
		return bus.ResendReply{Error: err.Error(), NotFound: true}
	}
	if err != nil {
		log.WarnContext(ctx, "resend: event search failed", telemetry.KeyError, err)
		return bus.ResendReply{Error: "the event could not be read"}
	}
	if err := f.dropForeignMedia(ctx, ev); err != nil {
		return bus.ResendReply{Error: "the event's media could not be checked"}
	}
	m, err := f.deliveryMsg(ctx, &hook, ev, req.ResendID)
	if err != nil {
		log.WarnContext(ctx, "resend: delivery cannot be built", telemetry.KeyError, err)
		return bus.ResendReply{Error: "the delivery cannot be built from the hook as it is now: " + err.Error()}
	}
	if _, err := f.JS.PublishMsg(ctx, m); err != nil {
		log.WarnContext(ctx, "resend: delivery not stored", telemetry.KeyError, err)
		return bus.ResendReply{Error: "the delivery could not be stored"}
	}
	log.InfoContext(ctx, "delivery queued again", telemetry.KeyDeliveryID, bus.DeliveryID(ev.GetId(), hook.ID), "resend_id", req.ResendID)
	return bus.ResendReply{}
}

// findEvent reads the account's events on EVENTS from the newest window
// back (see eventSearchWindows) until it meets the one with req's id.
func (f *Fanout) findEvent(ctx context.Context, req bus.ResendRequest) (*pbxhooksv1.Event, error) {
	filter, err := bus.AccountEventsSubject(req.AccountID)
	if err != nil {
		return nil, err
	}
	until := req.EventStoredBefore.Add(resendClockSkew)
	for i, back := range eventSearchWindows {
		from := req.EventStoredBefore.Add(-back)
		ev, err := f.searchEvents(ctx, filter, from, until, req.EventID, req.ResendID+"-"+strconv.Itoa(i))
		if err != nil || ev != nil {
			return ev, err
		}
		until = from
	}
	return nil, errEventGone
}

// searchEvents reads filter's events stored in [from, until] with a
// short-lived consumer of its own, and returns the one with eventID (nil
// when none has it).
func (f *Fanout) searchEvents(ctx context.Context, filter string, from, until time.Time, eventID, name string) (*pbxhooksv1.Event, error) {
	cons, err := f.JS.CreateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Name: "resend-" + name, FilterSubject: filter,
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &from,
		AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, InactiveThreshold: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("search events: %w", err)
	}
	defer func() {
		if err := f.JS.DeleteConsumer(context.WithoutCancel(ctx), bus.StreamEvents, cons.CachedInfo().Name); err != nil {
			f.Log.DebugContext(ctx, "search consumer not deleted; it expires", telemetry.KeyError, err)
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("search events: %w", err)
		}
		batch, err := cons.Fetch(eventSearchBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("search events: %w", err)
		}
		read := 0
		for msg := range batch.Messages() {
			read++
			md, err := msg.Metadata()
			if err != nil {
				return nil, fmt.Errorf("search events: %w", err)
			}
			if md.Timestamp.After(until) {
				return nil, nil
			}
			var ev pbxhooksv1.Event
			if proto.Unmarshal(msg.Data(), &ev) == nil && ev.GetId() == eventID {
				return &ev, nil
			}
			if md.NumPending == 0 {
				return nil, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("search events: %w", err)
		}
		if read == 0 {
			return nil, nil
		}
	}
}
