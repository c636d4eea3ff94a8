package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// TestEventSource is the Event.source of events made by POST .../test, so
// logs and receivers can tell them from real calls.
const TestEventSource = "test"

// testHook sends a sample event of the hook's type through the real
// pipeline: it is stored on EVENTS under its normal subject with
// bus.HeaderTestHookID, so the matcher delivers it to this hook only
// (enabled or not), and the deliverer records an attempt as for any event.
// The answer is that attempt (200) once it appears, or 202 with the event
// id when it did not within the configured wait; the client can then find
// it under .../attempts by delivery_id.
func (s *Server) testHook(c echo.Context) error {
	hook, err := s.loadHook(c)
	if err != nil {
		return err
	}
	ev, subject, err := sampleEvent(hook, time.Now())
	if err != nil {
		return errInternal(err)
	}
	ctx := c.Request().Context()
	msg, err := bus.EventMsg(ctx, subject, ev)
	if err != nil {
		return errInternal(fmt.Errorf("test event: %w", err))
	}
	msg.Header.Set(bus.HeaderTestHookID, hook.ID)
	if _, err := bus.PublishEvent(ctx, s.js, msg); err != nil {
		return &Error{Status: http.StatusServiceUnavailable,
			Message: "could not queue the test event; try again shortly", Err: fmt.Errorf("publish test event on %s: %w", subject, err)}
	}

	deliveryID := bus.DeliveryID(ev.GetId(), hook.ID)
	attempt, found, err := s.awaitAttempt(c, hook.AccountID, deliveryID)
	if err != nil {
		return err
	}
	if !found {
		return respond(c, http.StatusAccepted, envelope{Data: map[string]string{
			"event_id":    ev.GetId(),
			"delivery_id": deliveryID,
			"message": fmt.Sprintf("the test event is queued but no attempt was recorded within %s; look for delivery_id %s under GET .../webhooks/%s/attempts",
				s.testWait, deliveryID, hook.ID),
		}})
	}
	return respond(c, http.StatusOK, envelope{Data: renderAttempt(attempt)})
}

// awaitAttempt polls for the first attempt of deliveryID until s.testWait
// has passed or the client went away.
func (s *Server) awaitAttempt(c echo.Context, accountID, deliveryID string) (store.Attempt, bool, error) {
	ctx := c.Request().Context()
	deadline := time.NewTimer(s.testWait)
	defer deadline.Stop()
	tick := time.NewTicker(s.testPoll)
	defer tick.Stop()
	for {
		attempt, err := s.queries.GetFirstAttemptForDelivery(ctx, store.GetFirstAttemptForDeliveryParams{
			AccountID: accountID, DeliveryID: deliveryID})
		switch {
		case err == nil:
			return attempt, true, nil
		case !store.IsNotFound(err):
			if ctx.Err() != nil {
				return store.Attempt{}, false, errClientGone(ctx.Err())
			}
			return store.Attempt{}, false, errInternal(fmt.Errorf("look up attempt %s: %w", deliveryID, err))
		}
		select {
		case <-ctx.Done():
			return store.Attempt{}, false, errClientGone(ctx.Err())
		case <-deadline.C:
			return store.Attempt{}, false, nil
		case <-tick.C:
		}
	}
}

// sampleEvent builds the event a hook of h's type would receive, with the
// subject it is published on:
//   - Kazoo lifecycle types: that lifecycle; "all": channel_create;
//   - call: the hook's first call type and status (incoming_call and
//     ringing when it selects any), with the matching lifecycle;
//   - media: the hook's first media type (voicemail when any).
func sampleEvent(h store.Hook, now time.Time) (*pbxhooksv1.Event, string, error) {
	idBytes := make([]byte, 12)
	if _, err := rand.Read(idBytes); err != nil {
		return nil, "", fmt.Errorf("generate test event id: %w", err)
	}
	id := "test-" + hex.EncodeToString(idBytes)
	ev := &pbxhooksv1.Event{
		Id:         id,
		AccountId:  h.AccountID,
		Kind:       event.KindCall,
		Source:     TestEventSource,
		OccurredAt: timestamppb.New(now),
		ReceivedAt: timestamppb.New(now),
		CallId:     id + "@pbxhooks.test",
		ThreadId:   id,
		Direction:  event.DirectionInbound,
		CallType:   event.CallTypeIncoming,
		From:       "+15550100",
		FromName:   "pbxhooks test",
		To:         "+15550199",
		ToName:     "Test hook",
		Request:    "+15550199@pbxhooks.test",
	}
	switch h.Hook {
	case event.HookMedia:
		ev.Kind = event.KindMedia
		ev.Lifecycle = event.LifecycleChannelDestroy
		ev.Status = event.StatusEnded
		mediaType := firstOr(h.MediaTypes, event.MediaVoicemail)
		ev.Media = &pbxhooksv1.Media{
			Type: mediaType, MediaId: id, ObjectName: id,
			Filename: id + ".wav", ContentType: "audio/wav",
		}
		subject, err := bus.MediaEventSubject(h.AccountID, mediaType)
		return ev, subject, err
	case event.HookCall:
		ev.CallType = firstOr(h.CallTypes, event.CallTypeIncoming)
		ev.Status = firstOr(h.CallStatuses, event.StatusRinging)
		ev.Lifecycle = lifecycleForStatus(ev.Status)
	case event.HookAll:
		ev.Lifecycle = event.LifecycleChannelCreate
		ev.Status = event.StatusRinging
	default:
		ev.Lifecycle = h.Hook
		ev.Status = statusForLifecycle(h.Hook)
	}
	if ev.CallType == event.CallTypeOutgoing {
		ev.Direction = event.DirectionOutbound
	}
	if ev.Lifecycle == event.LifecycleChannelDestroy {
		ev.Hangup = &pbxhooksv1.Hangup{Cause: "NORMAL_CLEARING", Code: "sip:200",
			DurationSeconds: 42, BillingSeconds: 30, RingingSeconds: 12, Answered: ev.Status == event.StatusEnded}
	}
	subject, err := bus.CallEventSubject(h.AccountID, ev.CallType, ev.Status)
	return ev, subject, err
}

func statusForLifecycle(lifecycle string) string {
	switch lifecycle {
	case event.LifecycleChannelAnswer, event.LifecycleChannelBridge:
		return event.StatusAnswered
	case event.LifecycleChannelDestroy:
		return event.StatusEnded
	default:
		return event.StatusRinging
	}
}

func lifecycleForStatus(status string) string {
	switch status {
	case event.StatusRinging:
		return event.LifecycleChannelCreate
	case event.StatusAnswered:
		return event.LifecycleChannelAnswer
	default:
		return event.LifecycleChannelDestroy
	}
}

func firstOr(values []string, def string) string {
	if len(values) > 0 {
		return values[0]
	}
	return def
}

// errClientGone ends a request whose client went away (or whose server is
// shutting down) while it waited: nobody reads the answer, and it is not a
// server fault worth an error log.
func errClientGone(err error) *Error {
	return &Error{Status: http.StatusRequestTimeout, Message: "the request ended before the test attempt was recorded", Err: err}
}
