package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ingestmetrics"
)

// retryAfter is what a caller is told to wait when JetStream did not
// acknowledge; a resend is safe because stored events are deduplicated.
const retryAfter = 5 * time.Second

// maxDeadLetterBytes keeps a dead-letter copy within NATS's default
// message size; a whole rejected batch may be larger.
const maxDeadLetterBytes = 1 << 20

// publishConcurrency bounds the publishes in flight for one batch.
const publishConcurrency = 16

var tracer = otel.Tracer("github.com/pbxhooks/pbxhooks/services/ingest/internal/httpapi")

// item is one event of a request and what became of it.
type item struct {
	raw     []byte
	event   *pbxhooksv1.Event
	invalid *adapter.ValidationError
	// ignored is well-formed input of a kind pbxhooks does not turn into an
	// event (a FreeSWITCH HEARTBEAT): accepted and dropped.
	ignored bool
}

type acceptedBody struct {
	Data acceptedData `json:"data"`
}

type acceptedData struct {
	// IDs are the stored events' ids, in request order.
	IDs []string `json:"ids"`
	// Rejected lists a batch's invalid items; stored items are not in it.
	Rejected []rejectedItem `json:"rejected,omitempty"`
	// Ignored lists the indexes of well-formed items that carry no event
	// pbxhooks handles; they were accepted and dropped.
	Ignored []int `json:"ignored,omitempty"`
}

type rejectedItem struct {
	Index   int         `json:"index"`
	Message string      `json:"message"`
	Data    fieldErrors `json:"data"`
}

// intake accepts one event (a JSON object) or a batch (an array) for an
// account. It answers 202 only once JetStream stored every valid event;
// invalid events are reported per item and copied to the dead-letter stream.
func (s *Server) intake(a adapter.Adapter) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		span := trace.SpanFromContext(ctx)

		accountID := r.PathValue("account_id")
		if err := event.ValidateAccountID(accountID); err != nil {
			return errBadRequest("invalid account id", fieldErrors{}.with("account_id", adapter.RulePattern, err.Error()))
		}
		span.SetAttributes(attribute.String(telemetry.KeyAccountID, accountID))
		if !isJSON(r.Header.Get("Content-Type")) {
			return &apiError{status: http.StatusUnsupportedMediaType, message: "Content-Type must be application/json"}
		}
		held := s.inflight.reserve()
		defer held.release()
		body, err := s.readBody(w, r, held)
		if err != nil {
			return err
		}
		items, isBatch, err := s.split(body)
		if err != nil {
			var verr *adapter.ValidationError
			if errors.As(err, &verr) {
				s.deadLetter(ctx, r, accountID, body, verr)
				s.metrics.Event(a.Name, ingestmetrics.ResultRejected)
				return errBadRequest(verr.Error(), fieldErrorsOf(verr, "", nil))
			}
			return err
		}
		receivedAt := time.Now()
		for i := range items {
			if err := s.parse(ctx, a, &items[i], accountID, receivedAt); err != nil {
				return err
			}
		}
		if err := s.attachMedia(ctx, items); err != nil {
			return err
		}
		for i := range items {
			if inv := items[i].invalid; inv != nil {
				owner := accountID
				if inv.AccountID != "" {
					owner = inv.AccountID
				}
				s.deadLetter(ctx, r, owner, items[i].raw, inv)
				s.metrics.Event(a.Name, ingestmetrics.ResultRejected)
			}
		}
		if err := s.publishAll(ctx, items); err != nil {
			return err
		}
		return respond(w, items, isBatch)
	}
}

func (fe fieldErrors) with(field, rule, message string) fieldErrors {
	fe.add(field, rule, message)
	return fe
}

// isJSON accepts application/json and any application/*+json type.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// readBody reads at most one full batch, paid for from held; a larger body
// is refused 413 without being read to its end, a slow one 408, and one
// that does not fit in what ingest may hold 503.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, held *reservation) ([]byte, error) {
	limit := int64(s.limits.MaxEventBytes) * int64(s.limits.MaxBatchEvents)
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge,
		message: fmt.Sprintf("request body exceeds %d bytes (%d events of at most %d bytes)", limit, s.limits.MaxBatchEvents, s.limits.MaxEventBytes)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body := s.boundBody(w, r, limit)
	data, err := readAll(body, r.ContentLength, limit, held)
	if err == nil {
		return data, nil
	}
	failure := body.failure()
	switch {
	case failure == nil:
		// Not the body's failure: readAll's own answer (503, 413).
		return nil, err
	case failure.status == http.StatusRequestEntityTooLarge:
		return nil, tooLarge
	default:
		return nil, failure
	}
}

// split returns the events of body: the body itself when it is one object,
// each element when it is an array. Only the array is parsed here; each
// event is left to its adapter.
func (s *Server) split(body []byte) (items []item, isBatch bool, err error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		if len(body) > s.limits.MaxEventBytes {
			return nil, false, &apiError{status: http.StatusRequestEntityTooLarge,
				message: fmt.Sprintf("the event exceeds %d bytes", s.limits.MaxEventBytes)}
		}
		return []item{{raw: body}}, false, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(trimmed, &raws); err != nil {
		return nil, true, adapter.Invalid(adapter.BodyField, adapter.RuleFormat, "the batch is not a valid JSON array: "+err.Error())
	}
	if len(raws) == 0 {
		return nil, true, errBadRequest("the batch is empty", nil)
	}
	if len(raws) > s.limits.MaxBatchEvents {
		return nil, true, &apiError{status: http.StatusRequestEntityTooLarge,
			message: fmt.Sprintf("the batch has %d events; at most %d are accepted", len(raws), s.limits.MaxBatchEvents)}
	}
	items = make([]item, len(raws))
	for i, raw := range raws {
		items[i].raw = raw
	}
	return items, true, nil
}

// parse fills in it's event, or marks it invalid or ignored. A parser
// failure that is not the input's fault (the ARI channel state could not be
// read or written) fails the request with 503, since a resend may succeed.
func (s *Server) parse(ctx context.Context, a adapter.Adapter, it *item, accountID string, receivedAt time.Time) error {
	if len(it.raw) > s.limits.MaxEventBytes {
		it.invalid = adapter.Invalid(adapter.BodyField, adapter.RuleMaxLength,
			fmt.Sprintf("the event exceeds %d bytes", s.limits.MaxEventBytes))
		return nil
	}
	ev, err := a.Parse(it.raw, accountID, receivedAt)
	if errors.Is(err, adapter.ErrIgnored) {
		s.log.DebugContext(ctx, "input ignored", telemetry.KeyAccountID, accountID, "reason", err.Error())
		it.ignored = true
		s.metrics.Event(a.Name, ingestmetrics.ResultIgnored)
		return nil
	}
	if err != nil {
		var verr *adapter.ValidationError
		if !errors.As(err, &verr) {
			s.log.WarnContext(ctx, "parser state unavailable", telemetry.KeyAccountID, accountID, telemetry.KeyError, err)
			return &apiError{status: http.StatusServiceUnavailable, message: "the " + a.Name + " channel state did not answer; resend the request", retryAfter: retryAfter}
		}
		it.invalid = verr
		return nil
	}
	it.event = ev
	return nil
}

// attachMedia checks that each media event names a stored file and fills
// in its size and digest. An event naming no stored file becomes invalid; a
// failed lookup fails the request with 503, since a resend may succeed.
func (s *Server) attachMedia(ctx context.Context, items []item) error {
	ctx, cancel := context.WithTimeout(ctx, s.limits.PublishTimeout)
	defer cancel()
	for i := range items {
		ev := items[i].event
		if ev == nil {
			continue
		}
		err := s.media.Attach(ctx, ev)
		var verr *adapter.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &verr):
			items[i].event, items[i].invalid = nil, verr
		default:
			s.log.WarnContext(ctx, "media lookup failed", telemetry.KeyError, err)
			return &apiError{status: http.StatusServiceUnavailable, message: "the media store did not answer; resend the request", retryAfter: retryAfter}
		}
	}
	return nil
}

// deadLetter keeps a copy of rejected input for inspection. The caller is
// answered 400 either way: a failed copy is an outage of ours, logged, and
// not a reason for the sender to resend input that is wrong.
func (s *Server) deadLetter(ctx context.Context, r *http.Request, accountID string, data []byte, verr *adapter.ValidationError) {
	s.log.InfoContext(ctx, "event rejected", telemetry.KeyAccountID, accountID, "reason", verr.Error())
	s.metrics.DeadLetter(ingestmetrics.Reason(verr))
	headers := nats.Header{}
	headers.Set(bus.HeaderAccountID, accountID)
	telemetry.InjectNATS(ctx, headers)
	ctx, cancel := context.WithTimeout(ctx, s.limits.PublishTimeout)
	defer cancel()
	reason := verr.Error()
	if len(data) > maxDeadLetterBytes {
		data = data[:maxDeadLetterBytes]
		reason = fmt.Sprintf("(copy truncated to the first %d bytes) %s", maxDeadLetterBytes, reason)
	}
	source := r.Method + " " + r.URL.Path
	if err := bus.PublishDeadLetter(ctx, s.js, source, headers, data, reason); err != nil {
		s.log.ErrorContext(ctx, "dead-letter copy failed", telemetry.KeyAccountID, accountID, telemetry.KeyError, err)
	}
}

// publishAll stores every valid item and waits for all acknowledgements.
func (s *Server) publishAll(ctx context.Context, items []item) error {
	ctx, cancel := context.WithTimeout(ctx, s.limits.PublishTimeout)
	defer cancel()
	errs := make([]error, len(items))
	var g errgroup.Group
	g.SetLimit(publishConcurrency)
	for i := range items {
		if items[i].event == nil {
			continue
		}
		g.Go(func() error {
			errs[i] = s.pub.Publish(ctx, items[i].event)
			return nil
		})
	}
	_ = g.Wait()
	err := errors.Join(errs...)
	if err == nil {
		return nil
	}
	if errors.Is(err, bus.ErrUnroutable) {
		return err
	}
	s.log.WarnContext(ctx, "events not acknowledged by JetStream", telemetry.KeyError, err)
	return &apiError{
		status:     http.StatusServiceUnavailable,
		message:    "the event store did not acknowledge in time; resend the request, stored events are deduplicated",
		retryAfter: retryAfter,
	}
}

func respond(w http.ResponseWriter, items []item, isBatch bool) error {
	var body acceptedBody
	body.Data.IDs = []string{}
	all := fieldErrors{}
	for i, it := range items {
		if it.event != nil {
			body.Data.IDs = append(body.Data.IDs, it.event.GetId())
			continue
		}
		if it.ignored {
			body.Data.Ignored = append(body.Data.Ignored, i)
			continue
		}
		prefix := ""
		if isBatch {
			prefix = fmt.Sprintf("[%d].", i)
		}
		fieldErrorsOf(it.invalid, prefix, all)
		body.Data.Rejected = append(body.Data.Rejected, rejectedItem{
			Index: i, Message: it.invalid.Error(), Data: fieldErrorsOf(it.invalid, "", nil),
		})
	}
	switch {
	case len(body.Data.IDs) > 0 || len(body.Data.Ignored) > 0:
		writeJSON(w, http.StatusAccepted, body)
		return nil
	case !isBatch:
		return errBadRequest(items[0].invalid.Error(), all)
	default:
		return errBadRequest("every event in the batch is invalid", all)
	}
}
