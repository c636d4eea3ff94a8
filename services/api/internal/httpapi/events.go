package httpapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// eventJSON is one indexed event as the API shows it (search, timeline,
// preview, live stream). Payload, the canonical event, is in timelines only.
type eventJSON struct {
	// ID is the index row's id; EventID the event's own.
	ID            string          `json:"id,omitempty"`
	EventID       string          `json:"event_id"`
	Kind          string          `json:"kind"`
	Lifecycle     string          `json:"lifecycle,omitempty"`
	CallType      string          `json:"call_type,omitempty"`
	Status        string          `json:"status,omitempty"`
	MediaType     string          `json:"media_type,omitempty"`
	MediaID       string          `json:"media_id,omitempty"`
	IsInternalLeg bool            `json:"is_internal_leg"`
	CallID        string          `json:"call_id,omitempty"`
	ThreadID      string          `json:"thread_id,omitempty"`
	From          string          `json:"from,omitempty"`
	To            string          `json:"to,omitempty"`
	Direction     string          `json:"direction,omitempty"`
	Source        string          `json:"source,omitempty"`
	TestHookID    string          `json:"test_hook_id,omitempty"`
	OccurredAt    string          `json:"occurred_at"`
	ReceivedAt    string          `json:"received_at"`
	Payload       json.RawMessage `json:"payload,omitempty"`
}

// preciseTimestamp keeps sub-second order visible: a call's events are
// often within one second of each other.
func preciseTimestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func renderIndexedEvent(r *store.EventsIndex, withPayload bool) eventJSON {
	out := renderEventRow(eventindex.Row{
		AccountID: r.AccountID, EventID: r.EventID, Kind: r.Kind, Lifecycle: r.Lifecycle, CallType: r.CallType,
		Status: r.Status, MediaType: r.MediaType, MediaID: r.MediaID, IsInternalLeg: r.IsInternalLeg,
		CallID: r.CallID, ThreadID: r.ThreadID, FromNumber: r.FromNumber, ToNumber: r.ToNumber,
		Direction: r.Direction, Source: r.Source, TestHookID: r.TestHookID,
		OccurredAt: r.OccurredAt, ReceivedAt: r.ReceivedAt,
	})
	out.ID = strconv.FormatInt(r.ID, 10)
	if withPayload && len(r.Payload) > 0 {
		out.Payload = r.Payload
	}
	return out
}

func renderEventRow(r eventindex.Row) eventJSON {
	return eventJSON{
		EventID: r.EventID, Kind: r.Kind, Lifecycle: r.Lifecycle, CallType: r.CallType, Status: r.Status,
		MediaType: r.MediaType, MediaID: r.MediaID, IsInternalLeg: r.IsInternalLeg,
		CallID: r.CallID, ThreadID: r.ThreadID, From: r.FromNumber, To: r.ToNumber, Direction: r.Direction,
		Source: r.Source, TestHookID: r.TestHookID,
		OccurredAt: preciseTimestamp(r.OccurredAt), ReceivedAt: preciseTimestamp(r.ReceivedAt),
	}
}

// maxEventRefBytes bounds call ids, thread ids and numbers in filters and
// paths: the index keeps at most that much of each (eventindex).
const maxEventRefBytes = 512

// eventStatuses are the status values an event filter accepts: the call
// statuses, and none for status-less legs.
var eventStatuses = append(slices.Clone(event.CallStatuses), event.StatusNone)

// eventKinds are the kind values an event filter accepts.
var eventKinds = []string{event.KindCall, event.KindMedia}

// eventFilter is GET .../events' selection; nil members select anything.
type eventFilter struct {
	callID, threadID, number, status, kind *string
	since, until                           *time.Time
}

// parseEventFilter reads call_id, thread_id, number, status, kind, since
// and until, reporting every bad one at once.
func parseEventFilter(c echo.Context) (eventFilter, error) {
	var f eventFilter
	var v validation.Violations
	ref := func(name string) *string {
		raw := c.QueryParam(name)
		switch {
		case raw == "":
			return nil
		case len(raw) > maxEventRefBytes:
			v.Add(name, validation.RuleMaxLength, validation.Rule{
				Message: fmt.Sprintf("must be at most %d bytes", maxEventRefBytes), Target: maxEventRefBytes})
			return nil
		case strings.ContainsRune(raw, 0):
			v.Addf(name, validation.RuleFormat, "must not contain NUL")
			return nil
		}
		return &raw
	}
	f.callID, f.threadID, f.number = ref("call_id"), ref("thread_id"), ref("number")
	enum := func(name string, allowed []string) *string {
		raw := c.QueryParam(name)
		if raw == "" {
			return nil
		}
		if !slices.Contains(allowed, raw) {
			v.Add(name, validation.RuleEnum, validation.Rule{
				Message: fmt.Sprintf("%q is not one of %s", truncate(raw, 32), strings.Join(allowed, ", ")), Target: allowed})
			return nil
		}
		return &raw
	}
	f.status, f.kind = enum("status", eventStatuses), enum("kind", eventKinds)
	f.since, f.until = parseTimeParam(c, "since", &v), parseTimeParam(c, "until", &v)
	if f.since != nil && f.until != nil && !f.until.After(*f.since) {
		v.Add("until", validation.RuleMinimum, validation.Rule{Message: "must be after since", Target: f.since.UTC().Format(time.RFC3339)})
	}
	if !v.Empty() {
		return f, errBadRequest("invalid event filter: "+v.Summary(), v)
	}
	return f, nil
}

// parseTimeParam reads an optional RFC 3339 query parameter.
func parseTimeParam(c echo.Context, name string, v *validation.Violations) *time.Time {
	raw := c.QueryParam(name)
	if raw == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		hint := ""
		if strings.Contains(raw, " ") {
			hint = " (a '+' in the offset must be sent as %2B, or use Z)"
		}
		v.Add(name, validation.RuleFormat, validation.Rule{
			Message: "must be an RFC 3339 time such as 2024-05-01T13:00:00Z" + hint, Target: "RFC 3339"})
		return nil
	}
	return &t
}

// parseEventPage is parsePage with limit accepted as the page size (the
// name the console and CLI use); page_size, the Kazoo name, means the same.
func parseEventPage(c echo.Context) (page, error) {
	limit, size := c.QueryParam("limit"), c.QueryParam("page_size")
	if limit != "" && size != "" && limit != size {
		var v validation.Violations
		v.Addf("limit", validation.RuleFormat, "give limit or page_size, not both")
		return page{}, errBadRequest("invalid paging parameters: "+v.Summary(), v)
	}
	if limit != "" {
		c.QueryParams().Set("page_size", limit)
	}
	return parsePage(c)
}

// searchEvents pages through the account's indexed events, newest indexed
// first; the filters apply to every page.
func (s *Server) searchEvents(c echo.Context) error {
	p, err := parseEventPage(c)
	if err != nil {
		return err
	}
	f, err := parseEventFilter(c)
	if err != nil {
		return err
	}
	accountID := c.Param("account_id")
	params := store.SearchIndexedEventsParams{
		AccountID: accountID, PageSize: int32(p.size + 1), BeforeID: p.beforeID(),
		CallID: f.callID, ThreadID: f.threadID, Number: f.number, Status: f.status, Kind: f.kind,
		Since: f.since, Until: f.until,
	}
	rows, err := s.queries.SearchIndexedEvents(c.Request().Context(), params)
	if err != nil {
		return errInternal(fmt.Errorf("search events of %s: %w", accountID, err))
	}
	return respondPage(c, p, rows, func(r *store.EventsIndex) int64 { return r.ID },
		func(r *store.EventsIndex) eventJSON { return renderIndexedEvent(r, false) })
}
