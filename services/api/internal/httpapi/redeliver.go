package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

const (
	// resendWait bounds the wait for the matcher's answer to one resend
	// request (it searches EVENTS and stores the delivery); under the
	// server's write timeout.
	resendWait = 25 * time.Second
	// maxDeliveryIDBytes bounds a delivery id in a path: an event id (up
	// to 128 printable characters from a PBX, longer digests) plus ":" and
	// a hook id.
	maxDeliveryIDBytes = 512
	// MaxRecoverDeliveries bounds the deliveries one recover call lists or
	// resends; the answer says when more remain.
	MaxRecoverDeliveries = 100
	// recoverRetryAfter is what a caller whose resends found no matcher is
	// told to wait.
	recoverRetryAfter = 5 * time.Second
)

// resentJSON answers a resend.
type resentJSON struct {
	DeliveryID string `json:"delivery_id"`
	HookID     string `json:"hook_id"`
	EventID    string `json:"event_id"`
	ResendID   string `json:"resend_id"`
}

// resendDelivery sends one delivery again: the same webhook-id (the
// delivery id) and the payload rendered again from the stored event for the
// hook as it is now, one more attempt numbered after the earlier ones. 202
// once the delivery is stored on DELIVERIES; its attempt appears under
// .../attempts like any other.
func (s *Server) resendDelivery(c echo.Context) error {
	accountID, deliveryID := c.Param("account_id"), c.Param("delivery_id")
	if len(deliveryID) > maxDeliveryIDBytes {
		var v validation.Violations
		v.Add("delivery_id", validation.RuleMaxLength, validation.Rule{
			Message: fmt.Sprintf("must be at most %d bytes", maxDeliveryIDBytes), Target: maxDeliveryIDBytes})
		return errBadRequest("invalid delivery id in path", v)
	}
	ctx := c.Request().Context()
	first, err := s.queries.GetFirstAttemptForDelivery(ctx, store.GetFirstAttemptForDeliveryParams{AccountID: accountID, DeliveryID: deliveryID})
	if store.IsNotFound(err) {
		return errNotFound("delivery not found: " + truncate(deliveryID, 80))
	}
	if err != nil {
		return errInternal(fmt.Errorf("look up delivery %s: %w", deliveryID, err))
	}
	resendID, err := s.requestResend(ctx, first.AccountID, first.HookID, first.EventID, first.CreatedAt)
	if err != nil {
		return err
	}
	return respond(c, http.StatusAccepted, envelope{Data: resentJSON{
		DeliveryID: deliveryID, HookID: first.HookID, EventID: first.EventID, ResendID: resendID,
	}})
}

// requestResend asks the matcher (bus.ResendRequest) to store the delivery
// of eventID to hookID again and returns the resend's id. The answer maps
// to 404 (event or hook gone) and 503 (no matcher answered, or it could
// not store the delivery; retrying is safe, though a retry after a lost
// answer may deliver once more).
func (s *Server) requestResend(ctx context.Context, accountID, hookID, eventID string, firstAttempt time.Time) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", errInternal(fmt.Errorf("resend id: %w", err))
	}
	req := bus.ResendRequest{
		AccountID: accountID, HookID: hookID, EventID: eventID,
		ResendID: hex.EncodeToString(random[:]), EventStoredBefore: firstAttempt,
	}
	data, err := json.Marshal(req)
	if err != nil {
		return "", errInternal(fmt.Errorf("encode resend request: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, resendWait)
	defer cancel()
	msg, err := s.nc.RequestWithContext(ctx, bus.SubjectResendRequests, data)
	if err != nil {
		message := "no matcher answered the resend request; retry shortly"
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			message = "the matcher did not confirm the resend in time; retry shortly"
		}
		return "", &Error{Status: http.StatusServiceUnavailable, Message: message, RetryAfter: recoverRetryAfter,
			Err: fmt.Errorf("resend request for %s: %w", bus.DeliveryID(eventID, hookID), err)}
	}
	var reply bus.ResendReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return "", errInternal(fmt.Errorf("resend reply %.100q: %w", msg.Data, err))
	}
	switch {
	case reply.NotFound:
		return "", &Error{Status: http.StatusNotFound, Message: "cannot resend: " + reply.Error}
	case reply.Error != "":
		return "", &Error{Status: http.StatusServiceUnavailable, Message: "cannot resend now: " + reply.Error + "; retry shortly",
			RetryAfter: recoverRetryAfter}
	}
	return req.ResendID, nil
}

// recoverRequest is the body of POST .../webhooks/{webhook_id}/recover.
type recoverRequest struct {
	since  time.Time
	dryRun bool
	limit  int
}

func parseRecover(fields map[string]json.RawMessage) (recoverRequest, error) {
	out := recoverRequest{limit: MaxRecoverDeliveries}
	var v validation.Violations
	for name := range fields {
		if name != "since" && name != "dry_run" && name != "limit" {
			v.Add(truncate(name, 64), validation.RuleUnknown, validation.Rule{Message: "is not a recover option; they are since, dry_run and limit"})
		}
	}
	var since string
	if raw, ok := fields["since"]; !ok {
		v.Add("since", validation.RuleRequired, validation.Rule{Message: "is required: an RFC 3339 date-time such as 2026-01-02T15:04:05Z"})
	} else if err := json.Unmarshal(raw, &since); err != nil {
		v.Add("since", validation.RuleType, validation.Rule{Message: "must be a string", Target: "string"})
	} else if t, err := time.Parse(time.RFC3339Nano, since); err != nil {
		v.Add("since", validation.RuleFormat, validation.Rule{Message: "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z", Target: "date-time"})
	} else {
		out.since = t
	}
	if raw, ok := fields["dry_run"]; ok {
		if err := json.Unmarshal(raw, &out.dryRun); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			v.Add("dry_run", validation.RuleType, validation.Rule{Message: "must be true or false", Target: "boolean"})
		}
	}
	if raw, ok := fields["limit"]; ok {
		n, err := strconv.Atoi(string(bytes.TrimSpace(raw)))
		if err != nil || n < 1 || n > MaxRecoverDeliveries {
			v.Add("limit", validation.RuleMaximum, validation.Rule{
				Message: fmt.Sprintf("must be a whole number from 1 to %d", MaxRecoverDeliveries), Target: MaxRecoverDeliveries})
		} else {
			out.limit = n
		}
	}
	if !v.Empty() {
		return out, errInvalidData(v)
	}
	return out, nil
}

// failedDeliveryJSON is one delivery recover found.
type failedDeliveryJSON struct {
	DeliveryID     string `json:"delivery_id"`
	EventID        string `json:"event_id"`
	LastAttempt    int32  `json:"last_attempt"`
	FirstAttemptAt string `json:"first_attempt_at"`
	LastAttemptAt  string `json:"last_attempt_at"`
	// Resent and Error are set unless dry_run: queued again, or why not.
	Resent   bool   `json:"resent"`
	ResendID string `json:"resend_id,omitempty"`
	Error    string `json:"error,omitempty"`
}

type recoveredJSON struct {
	HookID     string               `json:"hook_id"`
	Since      string               `json:"since"`
	DryRun     bool                 `json:"dry_run"`
	Deliveries []failedDeliveryJSON `json:"deliveries"`
	// Truncated: more failed deliveries remain than limit; call again
	// with since = next_since to continue.
	Truncated bool   `json:"truncated"`
	NextSince string `json:"next_since,omitempty"`
}

// recoverHook lists the hook's failed deliveries since a time (none of
// their attempts since then succeeded), oldest first, at most limit of
// them, and unless dry_run resends each (as resendDelivery does). 200 for a
// dry run, 202 once the resends are queued; a delivery that could not be
// queued says why in its error.
func (s *Server) recoverHook(c echo.Context) error {
	hook, err := s.loadHook(c)
	if err != nil {
		return err
	}
	fields, err := readData(c)
	if err != nil {
		return err
	}
	req, err := parseRecover(fields)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := s.queries.ListFailedDeliveries(ctx, store.ListFailedDeliveriesParams{
		AccountID: hook.AccountID, HookID: hook.ID, Since: req.since, RowLimit: int32(req.limit + 1),
	})
	if err != nil {
		return errInternal(fmt.Errorf("list failed deliveries of hook %s: %w", hook.ID, err))
	}
	out := recoveredJSON{HookID: hook.ID, Since: req.since.UTC().Format(time.RFC3339Nano), DryRun: req.dryRun,
		Deliveries: make([]failedDeliveryJSON, 0, min(len(rows), req.limit))}
	if len(rows) > req.limit {
		out.Truncated = true
		out.NextSince = rows[req.limit].FirstAttemptAt.UTC().Format(time.RFC3339Nano)
		rows = rows[:req.limit]
	}
	for _, row := range rows {
		d := failedDeliveryJSON{
			DeliveryID: row.DeliveryID, EventID: row.EventID, LastAttempt: row.LastAttempt,
			FirstAttemptAt: row.FirstAttemptAt.UTC().Format(time.RFC3339Nano), LastAttemptAt: row.LastAttemptAt.UTC().Format(time.RFC3339Nano),
		}
		if !req.dryRun {
			d.ResendID, err = s.requestResend(ctx, hook.AccountID, hook.ID, row.EventID, row.FirstAttemptAt)
			var apiErr *Error
			switch {
			case err == nil:
				d.Resent = true
			case errors.As(err, &apiErr) && apiErr.Status != http.StatusInternalServerError:
				d.Error = apiErr.Message
			default:
				return err
			}
		}
		out.Deliveries = append(out.Deliveries, d)
	}
	status := http.StatusAccepted
	if req.dryRun {
		status = http.StatusOK
	}
	return respond(c, status, envelope{Data: out})
}
