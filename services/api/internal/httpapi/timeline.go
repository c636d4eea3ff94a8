package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// Timeline bounds: a call has a handful of legs and events; these stop a
// pathological call id (a PBX reusing one for everything) from making one
// answer unbounded.
const (
	maxTimelineEvents   = 1000
	maxTimelineAttempts = 5000
	// deliveryLifetime bounds when a delivery's attempts can happen after
	// its event: DELIVERIES keeps a message seven days.
	deliveryLifetime = 8 * 24 * time.Hour
)

// timelineJSON is a call's timeline.
type timelineJSON struct {
	CallID     string         `json:"call_id"`
	Events     []eventJSON    `json:"events"`
	Deliveries []deliveryJSON `json:"deliveries"`
	Media      []mediaJSON    `json:"media"`
	// Truncated is true when the call has more events or attempts than
	// one timeline shows.
	Truncated bool `json:"truncated"`
}

// deliveryJSON is one event's delivery to one hook, with its attempts in
// order; Result is the latest attempt's.
type deliveryJSON struct {
	DeliveryID string        `json:"delivery_id"`
	HookID     string        `json:"hook_id"`
	EventID    string        `json:"event_id"`
	Result     string        `json:"result"`
	Attempts   []attemptJSON `json:"attempts"`
}

// mediaJSON is a file the call produced. DownloadURL is a signed link like
// the one media webhooks carry, absent when the API has no signing key.
type mediaJSON struct {
	MediaID     string `json:"media_id"`
	MediaType   string `json:"media_type"`
	EventID     string `json:"event_id"`
	DownloadURL string `json:"download_url,omitempty"`
}

// callTimeline answers everything known about one call, found by call id
// or thread id: its events as ingested, each delivery with its attempts,
// and its media with download links. 404 when the index holds no event of
// that call for the account.
func (s *Server) callTimeline(c echo.Context) error {
	callRef := c.Param("call_id")
	if len(callRef) > maxEventRefBytes || strings.ContainsRune(callRef, 0) {
		var v validation.Violations
		v.Add("call_id", validation.RuleMaxLength, validation.Rule{
			Message: fmt.Sprintf("must be at most %d bytes, without NUL", maxEventRefBytes), Target: maxEventRefBytes})
		return errBadRequest("invalid call id: "+v.Summary(), v)
	}
	accountID := c.Param("account_id")
	ctx := c.Request().Context()
	events, err := s.queries.ListCallEvents(ctx, store.ListCallEventsParams{
		AccountID: accountID, CallRef: callRef, MaxEvents: maxTimelineEvents + 1})
	if err != nil {
		return errInternal(fmt.Errorf("list events of call %s: %w", callRef, err))
	}
	if len(events) == 0 {
		return errNotFound("no event of this call is indexed for the account (events are searchable for the index's retention)")
	}
	out := timelineJSON{CallID: callRef, Events: []eventJSON{}, Deliveries: []deliveryJSON{}, Media: []mediaJSON{}}
	if len(events) > maxTimelineEvents {
		events, out.Truncated = events[:maxTimelineEvents], true
	}
	eventIDs := make([]string, 0, len(events))
	first, last := events[0].ReceivedAt, events[0].ReceivedAt
	for i := range events {
		ev := &events[i]
		out.Events = append(out.Events, renderIndexedEvent(ev, true))
		eventIDs = append(eventIDs, ev.EventID)
		first, last = minTime(first, ev.ReceivedAt), maxTime(last, ev.ReceivedAt)
		if ev.MediaID != "" {
			out.Media = append(out.Media, s.renderMedia(ev))
		}
	}
	attempts, err := s.queries.ListEventAttempts(ctx, store.ListEventAttemptsParams{
		AccountID: accountID, EventIds: eventIDs,
		// An attempt is recorded after its event was received, to the
		// second of the database's clock: a minute of slack for skew.
		Since: first.Add(-time.Minute), Until: last.Add(deliveryLifetime),
		MaxAttempts: maxTimelineAttempts + 1,
	})
	if err != nil {
		return errInternal(fmt.Errorf("list attempts of call %s: %w", callRef, err))
	}
	if len(attempts) > maxTimelineAttempts {
		attempts, out.Truncated = attempts[:maxTimelineAttempts], true
	}
	out.Deliveries = groupDeliveries(attempts)
	return respond(c, http.StatusOK, envelope{Data: out})
}

// groupDeliveries groups attempts (oldest first) by delivery, in the order
// each delivery was first attempted.
func groupDeliveries(attempts []store.Attempt) []deliveryJSON {
	out := []deliveryJSON{}
	index := map[string]int{}
	for _, a := range attempts {
		i, ok := index[a.DeliveryID]
		if !ok {
			i = len(out)
			index[a.DeliveryID] = i
			out = append(out, deliveryJSON{DeliveryID: a.DeliveryID, HookID: a.HookID, EventID: a.EventID})
		}
		out[i].Attempts = append(out[i].Attempts, renderAttempt(a))
		out[i].Result = a.Result
	}
	return out
}

func (s *Server) renderMedia(ev *store.EventsIndex) mediaJSON {
	m := mediaJSON{MediaID: ev.MediaID, MediaType: ev.MediaType, EventID: ev.EventID}
	if s.media.Links != nil && len(s.media.Links.Keys) > 0 {
		link, err := s.media.Links.Link(ev.MediaID, ev.AccountID)
		if err == nil {
			m.DownloadURL = link
		}
	}
	return m
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
