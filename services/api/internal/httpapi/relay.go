package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/relay"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/api/internal/hookdoc"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// DefaultRelayLease is how long a relay hook outlives the last renewal by
// the replica holding its connection: a crashed replica's relay hooks are
// swept that long after it stopped. The holder renews at a third of it.
const DefaultRelayLease = 30 * time.Second

// RelayHookName names every relay hook in hook listings.
const RelayHookName = "pbxhooks listen"

// maxPendingRelayRequests bounds the requests one relay connection has
// handed to its listener and not yet heard back about; past it a request
// is answered "busy" at once (the deliverer retries it).
const maxPendingRelayRequests = 256

// relayParams are the query parameters the relay route reads, mapped to
// the hook document field each becomes.
var relayParams = map[string]string{
	relay.ParamForwardTo:    hookdoc.FieldURI,
	relay.ParamHook:         hookdoc.FieldHook,
	relay.ParamFormat:       hookdoc.FieldFormat,
	relay.ParamCallTypes:    hookdoc.FieldCallTypes,
	relay.ParamCallStatuses: hookdoc.FieldCallStatuses,
	relay.ParamMediaTypes:   hookdoc.FieldMediaTypes,
}

// decodeRelayFilter validates the relay's query as a hook document. The
// forward-to URL becomes the hook's uri unchecked by the destination guard:
// the deliverer never dials a relay hook's uri, the listener does.
func decodeRelayFilter(query url.Values) (hookdoc.Document, validation.Violations) {
	var v validation.Violations
	fields := map[string]json.RawMessage{
		hookdoc.FieldName:   mustJSON(RelayHookName),
		hookdoc.FieldHook:   mustJSON(relay.DefaultHook),
		hookdoc.FieldFormat: mustJSON(relay.DefaultFormat),
	}
	for param, values := range query {
		field, known := relayParams[param]
		switch {
		case !known:
			v.Addf(param, validation.RuleUnknown, "is not a relay parameter")
		case field == hookdoc.FieldCallTypes || field == hookdoc.FieldCallStatuses || field == hookdoc.FieldMediaTypes:
			var list []string
			for _, value := range values {
				for item := range strings.SplitSeq(value, ",") {
					if item = strings.TrimSpace(item); item != "" {
						list = append(list, item)
					}
				}
			}
			fields[field] = mustJSON(list)
		case len(values) != 1:
			v.Addf(param, validation.RuleType, "must be given once")
		default:
			fields[field] = mustJSON(values[0])
		}
	}
	if _, ok := fields[hookdoc.FieldURI]; !ok {
		v.Addf(relay.ParamForwardTo, validation.RuleRequired, "is required: the local URL the listener forwards to")
		fields[hookdoc.FieldURI] = mustJSON("http://localhost/")
	}
	doc, docViolations := hookdoc.Decode(fields)
	for field, rules := range docViolations {
		if field == hookdoc.FieldURI {
			field = relay.ParamForwardTo
		}
		for name, rule := range rules {
			v.Add(field, name, rule)
		}
	}
	return doc, v
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err)) // strings and string lists always encode
	}
	return b
}

// relayHook serves GET /v1/accounts/{account_id}/relay: a WebSocket over
// which the account's `pbxhooks listen` receives the signed requests of a
// temporary relay hook (see pkg/relay). The hook is created once the
// connection is open and deleted when it ends, whichever side ends it;
// while it lasts this replica renews its lease and answers the deliverer's
// requests on bus.RelaySubject, from whichever deliverer replica.
func (s *Server) relayHook(c echo.Context) error {
	doc, violations := decodeRelayFilter(c.QueryParams())
	if !violations.Empty() {
		return errInvalidData(violations)
	}
	req := c.Request()
	if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
		return &Error{Status: http.StatusUpgradeRequired, Message: "the relay is a WebSocket: send a WebSocket upgrade request"}
	}
	id, err := newHookID()
	if err != nil {
		return errInternal(err)
	}
	secret, err := newSecret()
	if err != nil {
		return errInternal(err)
	}
	subject, err := bus.RelaySubject(c.Param("account_id"), id)
	if err != nil {
		return errInternal(err)
	}
	// Hijacked connections outlive the server's per-request deadlines.
	rc := http.NewResponseController(c.Response())
	if err := errors.Join(rc.SetReadDeadline(time.Time{}), rc.SetWriteDeadline(time.Time{})); err != nil {
		return errInternal(fmt.Errorf("clear relay connection deadlines: %w", err))
	}
	conn, err := websocket.Accept(c.Response(), req, &websocket.AcceptOptions{Subprotocols: []string{relay.Subprotocol}})
	if err != nil {
		return nil // Accept answered the handshake's error itself
	}
	conn.SetReadLimit(relay.MaxFrameBytes)
	session := &relaySession{
		s: s, conn: conn, subject: subject, log: s.log.With(telemetry.KeyAccountID, c.Param("account_id"), telemetry.KeyHookID, id),
		pending: map[string]*nats.Msg{},
	}
	params := store.InsertRelayHookParams{
		ID: id, AccountID: c.Param("account_id"), Name: doc.Name, Uri: doc.URI, HttpVerb: doc.HTTPVerb,
		Hook: doc.Hook, Retries: doc.Retries, CustomData: doc.CustomData, Enabled: true, Format: doc.Format,
		IncludeInternalLegs: doc.IncludeInternalLegs, IncludeSubaccounts: doc.IncludeSubaccounts,
		CallTypes: doc.CallTypes, CallStatuses: doc.CallStatuses, MediaTypes: doc.MediaTypes, Secret: secret,
	}
	s.relays.Add(1)
	defer s.relays.Done()
	session.run(s.relayCtx, params)
	return nil
}

// relaySession is one open relay connection and its relay hook.
type relaySession struct {
	s       *Server
	conn    *websocket.Conn
	subject string
	log     *slog.Logger
	hook    store.Hook

	mu      sync.Mutex
	pending map[string]*nats.Msg
	nextID  uint64
}

// run creates the relay hook, serves the connection until it ends or the
// server stops, then deletes the hook.
func (rs *relaySession) run(ctx context.Context, params store.InsertRelayHookParams) {
	s := rs.s
	requests := make(chan *nats.Msg, maxPendingRelayRequests)
	// Subscribed before the hook exists, so no delivery finds no responder.
	sub, err := s.nc.ChanSubscribe(rs.subject, requests)
	if err == nil {
		defer sub.Unsubscribe()
		err = s.nc.FlushTimeout(5 * time.Second)
	}
	if err != nil {
		rs.log.WarnContext(ctx, "relay subscribe failed", telemetry.KeyError, err.Error())
		rs.conn.Close(websocket.StatusInternalError, "relay unavailable; retry shortly")
		return
	}
	params.LeaseExpiresAt = time.Now().Add(s.relayLease)
	rs.hook, err = s.queries.InsertRelayHook(ctx, params)
	if err != nil {
		rs.log.WarnContext(ctx, "create relay hook", telemetry.KeyError, err.Error())
		rs.conn.Close(websocket.StatusInternalError, "could not create the relay hook; retry shortly")
		return
	}
	defer func() {
		// Stop answering before the hook goes: a deliverer request made
		// after the deletion then finds no responder at once instead of
		// waiting out its timeout on a session that no longer reads.
		_ = sub.Unsubscribe()
		_ = s.nc.FlushTimeout(5 * time.Second)
		rs.deleteHook(context.WithoutCancel(ctx))
	}()
	s.publishHooksChanged(ctx, rs.hook, "created")
	rs.log.InfoContext(ctx, "relay opened")

	ready := relay.Frame{Type: relay.FrameReady, Hook: &relay.Hook{
		ID: rs.hook.ID, AccountID: rs.hook.AccountID, URI: rs.hook.Uri, Hook: rs.hook.Hook, Format: rs.hook.Format,
		CallTypes: nonNil(rs.hook.CallTypes), CallStatuses: nonNil(rs.hook.CallStatuses),
		MediaTypes: nonNil(rs.hook.MediaTypes), Secret: rs.hook.Secret,
	}}
	if err := rs.write(ctx, ready); err != nil {
		return
	}
	readDone := make(chan error, 1)
	go func() { readDone <- rs.readResponses(ctx) }()
	renew := time.NewTicker(s.relayLease / 3)
	defer renew.Stop()
	for {
		select {
		case msg := <-requests:
			rs.forward(ctx, msg)
		case <-renew.C:
			if !rs.renew(ctx) {
				return
			}
		case err := <-readDone:
			rs.log.InfoContext(ctx, "relay closed", "close_status", websocket.CloseStatus(err).String())
			return
		case <-ctx.Done():
			rs.conn.Close(websocket.StatusGoingAway, "API shutting down")
			return
		}
	}
}

// forward hands one deliverer request to the listener, or answers it at
// once when the listener has too many outstanding.
func (rs *relaySession) forward(ctx context.Context, msg *nats.Msg) {
	var req bus.RelayRequest
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		rs.answer(msg, bus.RelayResponse{Error: "relay: unreadable request"})
		return
	}
	rs.mu.Lock()
	if len(rs.pending) >= maxPendingRelayRequests {
		rs.mu.Unlock()
		rs.answer(msg, bus.RelayResponse{Error: "relay: listener busy"})
		return
	}
	rs.nextID++
	id := strconv.FormatUint(rs.nextID, 10)
	rs.pending[id] = msg
	rs.mu.Unlock()
	if err := rs.write(ctx, relay.Frame{Type: relay.FrameRequest, ID: id, Request: &req}); err != nil {
		rs.take(id) // the connection is ending; the deliverer's request times out and is retried
	}
}

// readResponses reads the listener's frames until the connection ends and
// passes each valid response to the deliverer that waits for it.
func (rs *relaySession) readResponses(ctx context.Context) error {
	for {
		typ, data, err := rs.conn.Read(ctx)
		if err != nil {
			return err
		}
		var f relay.Frame
		if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil || f.Type != relay.FrameResponse || f.Response == nil {
			rs.conn.Close(websocket.StatusPolicyViolation, "expected response frames")
			return errors.New("listener sent a frame that is not a response")
		}
		msg := rs.take(f.ID)
		if msg == nil {
			continue // unknown or already answered id
		}
		resp := *f.Response
		if err := resp.Validate(); err != nil {
			resp = bus.RelayResponse{Error: "relay: listener's response refused: " + err.Error()}
		}
		rs.answer(msg, resp)
	}
}

func (rs *relaySession) take(id string) *nats.Msg {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	msg := rs.pending[id]
	delete(rs.pending, id)
	return msg
}

func (rs *relaySession) answer(msg *nats.Msg, resp bus.RelayResponse) {
	data, err := json.Marshal(resp)
	if err == nil {
		err = msg.Respond(data)
	}
	if err != nil {
		rs.log.WarnContext(context.Background(), "answer relay request", telemetry.KeyError, err.Error())
	}
}

func (rs *relaySession) write(ctx context.Context, f relay.Frame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode relay frame: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, rs.s.relayLease)
	defer cancel()
	return rs.conn.Write(wctx, websocket.MessageText, data)
}

// renew extends the relay hook's lease and checks the listener still
// answers pings; false ends the session (the hook was deleted through the
// API, or the listener is unreachable).
func (rs *relaySession) renew(ctx context.Context) bool {
	n, err := rs.s.queries.RenewRelayLease(ctx, store.RenewRelayLeaseParams{
		AccountID: rs.hook.AccountID, ID: rs.hook.ID, LeaseExpiresAt: time.Now().Add(rs.s.relayLease),
	})
	switch {
	case err != nil:
		// The database may be back before the lease runs out.
		rs.log.WarnContext(ctx, "renew relay lease", telemetry.KeyError, err.Error())
	case n == 0:
		rs.conn.Close(websocket.StatusNormalClosure, "relay hook deleted")
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, rs.s.relayLease/3)
	defer cancel()
	if err := rs.conn.Ping(pctx); err != nil {
		rs.conn.CloseNow()
		return false
	}
	return true
}

func (rs *relaySession) deleteHook(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := rs.s.queries.DeleteRelayHook(ctx, store.DeleteRelayHookParams{AccountID: rs.hook.AccountID, ID: rs.hook.ID})
	if err != nil {
		// The lease runs out and a sweeper removes it.
		rs.log.WarnContext(ctx, "delete relay hook", telemetry.KeyError, err.Error())
		return
	}
	if n > 0 {
		rs.s.publishHooksChanged(ctx, rs.hook, "deleted")
	}
}

// SweepExpiredRelays deletes the relay hooks whose lease ran out (their
// replica stopped renewing them: it crashed) and tells the matchers; it
// returns how many it deleted.
func (s *Server) SweepExpiredRelays(ctx context.Context) (int, error) {
	gone, err := s.queries.DeleteExpiredRelayHooks(ctx, time.Now())
	if err != nil {
		return 0, fmt.Errorf("sweep expired relay hooks: %w", err)
	}
	for _, h := range gone {
		s.publishAccountChange(ctx, bus.HookChange{AccountID: h.AccountID, HookID: h.ID, Change: "deleted"})
	}
	return len(gone), nil
}

// sweepRelays runs SweepExpiredRelays every lease until ctx ends.
func (s *Server) sweepRelays(ctx context.Context) {
	tick := time.NewTicker(s.relayLease)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if n, err := s.SweepExpiredRelays(ctx); err != nil {
				s.log.WarnContext(ctx, "relay sweep", telemetry.KeyError, err.Error())
			} else if n > 0 {
				s.log.InfoContext(ctx, "swept relay hooks of a stopped replica", "count", n)
			}
		}
	}
}
