package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// Live stream (GET .../stream) bounds.
const (
	// DefaultStreamHeartbeat is how often an idle stream sends a comment,
	// so proxies keep it open and a vanished client is noticed.
	DefaultStreamHeartbeat = 15 * time.Second
	// streamBuffer is how many frames wait for a slow client; beyond it
	// frames are dropped and counted, never queued without bound.
	streamBuffer = 256
	// MaxStreamsPerAccount bounds one account's open streams per replica.
	MaxStreamsPerAccount = 16
	// streamWriteLimit bounds one write to the client.
	streamWriteLimit = 10 * time.Second
	// streamSeenEvents is how many passed event ids a stream remembers to
	// show their attempts under an event filter.
	streamSeenEvents = 1024
)

// Attempt results, as the attempts table records them.
var attemptResultValues = []string{"success", "failure"}

// streamStatuses are the status values the stream accepts: an event's call
// status, or an attempt's result.
var streamStatuses = append(slices.Clone(eventStatuses), attemptResultValues...)

// streamFilter selects what one live stream shows. Attempts are shown
// when they pass the attempt filters and, under an event filter (number,
// a call status, a hook's selection), when their event was shown on this
// stream.
type streamFilter struct {
	hookID string
	// hook is the hook_id's selection; events pass when it matches them.
	hook *event.Selection
	// eventStatus or attemptResult, by the vocabulary status named.
	eventStatus, attemptResult string
	number                     string
}

func (f *streamFilter) filtersEvents() bool {
	return f.hook != nil || f.eventStatus != "" || f.number != ""
}

func (f *streamFilter) passEvent(r *eventindex.Row) bool {
	if f.attemptResult != "" {
		return false
	}
	if f.eventStatus != "" && r.Status != f.eventStatus {
		return false
	}
	if f.number != "" && r.FromNumber != f.number && r.ToNumber != f.number {
		return false
	}
	if f.hook != nil {
		if r.TestHookID != "" {
			return r.TestHookID == f.hookID
		}
		ix := store.EventsIndex{Kind: r.Kind, Lifecycle: r.Lifecycle, CallType: r.CallType, Status: r.Status,
			MediaType: r.MediaType, MediaID: r.MediaID, IsInternalLeg: r.IsInternalLeg}
		return f.hook.Matches(eventindex.SelectionEvent(&ix))
	}
	return true
}

func (f *streamFilter) passAttempt(n *bus.AttemptNotice, seen *seenEvents) bool {
	if f.hookID != "" && n.HookID != f.hookID {
		return false
	}
	if f.attemptResult != "" {
		return n.Result == f.attemptResult
	}
	if f.filtersEvents() && !seen.has(n.EventID) {
		return false
	}
	return true
}

// seenEvents remembers the latest event ids a stream showed.
type seenEvents struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func newSeenEvents(n int) *seenEvents {
	return &seenEvents{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (s *seenEvents) add(id string) {
	if old := s.ring[s.next]; old != "" {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.ids[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}

func (s *seenEvents) has(id string) bool { _, ok := s.ids[id]; return ok }

// parseStreamFilter reads hook_id, status and number; an unknown hook is
// 404, like the hook's own routes.
func (s *Server) parseStreamFilter(c echo.Context) (streamFilter, error) {
	var f streamFilter
	var v validation.Violations
	if raw := c.QueryParam("status"); raw != "" {
		switch {
		case slices.Contains(attemptResultValues, raw):
			f.attemptResult = raw
		case slices.Contains(eventStatuses, raw):
			f.eventStatus = raw
		default:
			v.Add("status", validation.RuleEnum, validation.Rule{
				Message: fmt.Sprintf("%q is not one of %s", truncate(raw, 32), strings.Join(streamStatuses, ", ")), Target: streamStatuses})
		}
	}
	if raw := c.QueryParam("number"); raw != "" {
		if len(raw) > maxEventRefBytes || strings.ContainsRune(raw, 0) {
			v.Add("number", validation.RuleMaxLength, validation.Rule{
				Message: fmt.Sprintf("must be at most %d bytes, without NUL", maxEventRefBytes), Target: maxEventRefBytes})
		}
		f.number = raw
	}
	raw := c.QueryParam("hook_id")
	if raw != "" && bus.ValidateToken(raw) != nil {
		v.Addf("hook_id", validation.RuleFormat, "must be a webhook id")
	}
	if !v.Empty() {
		return f, errBadRequest("invalid stream filter: "+v.Summary(), v)
	}
	if raw != "" {
		hook, err := s.queries.GetHook(c.Request().Context(), store.GetHookParams{AccountID: c.Param("account_id"), ID: raw})
		if store.IsNotFound(err) {
			return f, errNotFound("webhook not found: " + raw)
		}
		if err != nil {
			return f, errInternal(fmt.Errorf("load hook %s: %w", raw, err))
		}
		f.hookID = hook.ID
		f.hook = &event.Selection{Hook: hook.Hook, IncludeInternalLegs: hook.IncludeInternalLegs,
			CallTypes: hook.CallTypes, CallStatuses: hook.CallStatuses, MediaTypes: hook.MediaTypes}
	}
	return f, nil
}

// streamCounter bounds open streams per account.
type streamCounter struct {
	mu   sync.Mutex
	open map[string]int
}

func (sc *streamCounter) acquire(accountID string) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[accountID] >= MaxStreamsPerAccount {
		return false
	}
	if sc.open == nil {
		sc.open = map[string]int{}
	}
	sc.open[accountID]++
	return true
}

func (sc *streamCounter) release(accountID string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[accountID]--; sc.open[accountID] <= 0 {
		delete(sc.open, accountID)
	}
}

// liveMsg is one NATS message handed from a subscription to its stream.
type liveMsg struct {
	isEvent bool
	msg     *nats.Msg
}

// streamEvents serves Server-Sent Events of the account's events ("event")
// and delivery attempts ("attempt") as they happen, from core NATS
// subscriptions scoped to the account's subjects. Each frame's data is the
// JSON the search (eventJSON) or bus.AttemptNotice shows. A client slower
// than the stream loses frames beyond a bounded buffer and is told how
// many in a "dropped" event; an idle stream sends a heartbeat comment. The
// stream ends when the client goes away or the server shuts down.
func (s *Server) streamEvents(c echo.Context) error {
	f, err := s.parseStreamFilter(c)
	if err != nil {
		return err
	}
	accountID := c.Param("account_id")
	eventsSubject, err := bus.AccountEvents(accountID)
	if err != nil {
		return errBadRequest("invalid account id", nil)
	}
	noticesSubject, err := bus.AccountAttemptNotices(accountID)
	if err != nil {
		return errBadRequest("invalid account id", nil)
	}
	if !s.streams.acquire(accountID) {
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second,
			Message: fmt.Sprintf("the account has %d live streams open on this server; close one first", MaxStreamsPerAccount)}
	}
	defer s.streams.release(accountID)

	frames := make(chan liveMsg, streamBuffer)
	var dropped atomic.Int64
	deliver := func(isEvent bool) nats.MsgHandler {
		return func(m *nats.Msg) {
			select {
			case frames <- liveMsg{isEvent: isEvent, msg: m}:
			default:
				dropped.Add(1)
			}
		}
	}
	var subs []*nats.Subscription
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	for _, want := range []struct {
		subject string
		isEvent bool
	}{{eventsSubject, true}, {noticesSubject, false}} {
		sub, err := s.nc.Subscribe(want.subject, deliver(want.isEvent))
		if err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Message: "the live stream is unavailable; retry shortly",
				Err: fmt.Errorf("subscribe %s: %w", want.subject, err), RetryAfter: 5 * time.Second}
		}
		subs = append(subs, sub)
	}
	// The subscriptions are in place before the client hears 200: what is
	// published after the response starts reaches the stream.
	if err := s.nc.Flush(); err != nil {
		return &Error{Status: http.StatusServiceUnavailable, Message: "the live stream is unavailable; retry shortly",
			Err: fmt.Errorf("flush subscriptions: %w", err), RetryAfter: 5 * time.Second}
	}

	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(frame []byte) error {
		// The server's write timeout would end a long stream: each write
		// gets a deadline of its own instead.
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteLimit))
		if _, err := w.Write(frame); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write([]byte(": stream open\nretry: 3000\n\n")); err != nil {
		return nil
	}

	ctx := c.Request().Context()
	heartbeat := time.NewTicker(s.streamHeartbeat)
	defer heartbeat.Stop()
	seen := newSeenEvents(streamSeenEvents)
	var reported int64
	for {
		var frame []byte
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			_ = write([]byte("event: close\ndata: {\"reason\":\"server shutting down\"}\n\n"))
			return nil
		case <-heartbeat.C:
			frame = []byte(": heartbeat\n\n")
		case m := <-frames:
			frame = s.liveFrame(ctx, accountID, m, &f, seen)
		}
		if n := dropped.Load(); n > reported {
			frame = append(sseFrame("dropped", "", map[string]int64{"dropped": n - reported}), frame...)
			reported = n
		}
		if len(frame) == 0 {
			continue
		}
		if err := write(frame); err != nil {
			return nil // the client went away
		}
	}
}

// liveFrame renders one NATS message as an SSE frame, or nil when the
// filter hides it or it is not the account's (defence in depth: the
// subscription's subject already names the account).
func (s *Server) liveFrame(ctx context.Context, accountID string, m liveMsg, f *streamFilter, seen *seenEvents) []byte {
	if m.isEvent {
		row, err := eventindex.RowFromMessage(m.msg.Subject, m.msg.Data, m.msg.Header.Get(bus.HeaderTestHookID), time.Now())
		if err != nil || row.AccountID != accountID {
			s.log.DebugContext(ctx, "live stream skipped a message", "subject", m.msg.Subject)
			return nil
		}
		if !f.passEvent(&row) {
			return nil
		}
		seen.add(row.EventID)
		return sseFrame("event", row.EventID, renderEventRow(row))
	}
	var n bus.AttemptNotice
	if err := json.Unmarshal(m.msg.Data, &n); err != nil || n.AccountID != accountID {
		return nil
	}
	if !f.passAttempt(&n, seen) {
		return nil
	}
	return sseFrame("attempt", "", n)
}

// sseFrame is one Server-Sent Event. The id is written only when it is a
// single plain line.
func sseFrame(name, id string, data any) []byte {
	body, err := json.Marshal(data)
	if err != nil {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("event: " + name + "\n")
	if id != "" && !strings.ContainsAny(id, "\r\n\x00") {
		b.WriteString("id: " + id + "\n")
	}
	b.WriteString("data: ")
	b.Write(body)
	b.WriteString("\n\n")
	return b.Bytes()
}
