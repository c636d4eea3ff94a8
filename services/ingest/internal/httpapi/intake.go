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

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/accept"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// retryAfter is what a caller is told to wait when JetStream did not
// acknowledge; a resend is safe because stored events are deduplicated.
const retryAfter = 5 * time.Second

// acceptConcurrency bounds the events of one batch in the pipeline at once.
const acceptConcurrency = 16

var tracer = otel.Tracer("github.com/pbxhooks/pbxhooks/services/ingest/internal/httpapi")

// item is one event of a request and what became of it.
type item struct {
	raw []byte
	out accept.Outcome
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
// account, each through the intake pipeline the NATS consumer shares. It
// answers 202 only once JetStream stored every valid event; invalid events
// are reported per item (400 when none is left) once their copy is on the
// dead-letter stream. When anything the pipeline needs failed (the event
// store, the media store, the dead-letter copy) the answer is 503 with
// Retry-After: the resend is deduplicated, and rejected input is never
// answered 400 without its copy kept.
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
		source := r.Method + " " + r.URL.Path
		items, isBatch, err := s.split(body)
		if err != nil {
			var verr *adapter.ValidationError
			if errors.As(err, &verr) {
				in := accept.Input{Adapter: a, AccountID: accountID, Raw: body, Source: source}
				if out := s.pipeline.Reject(ctx, in, "", verr, bus.Permanent("invalid "+a.Name+" request", verr)); out.Result == accept.Unavailable {
					return unavailable(out)
				}
				return errBadRequest(verr.Error(), fieldErrorsOf(verr, "", nil))
			}
			return err
		}
		s.acceptAll(ctx, a, accountID, source, items, time.Now())
		for _, it := range items {
			if it.out.Result == accept.Unavailable {
				return unavailable(it.out)
			}
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

// acceptAll hands every item to the intake pipeline, in parallel unless
// the adapter keeps state across events (ARI), whose items are parsed one
// after the other in request order, as the NATS consumer does.
func (s *Server) acceptAll(ctx context.Context, a adapter.Adapter, accountID, source string, items []item, receivedAt time.Time) {
	var g errgroup.Group
	g.SetLimit(acceptConcurrency)
	if a.Ordered {
		g.SetLimit(1)
	}
	for i := range items {
		g.Go(func() error {
			items[i].out = s.pipeline.Accept(ctx, accept.Input{
				Adapter: a, AccountID: accountID, Raw: items[i].raw, ReceivedAt: receivedAt, Source: source,
			})
			return nil
		})
	}
	_ = g.Wait()
}

// unavailable answers an outcome that a resend may turn into success: 503
// with Retry-After. The events of the request already stored are
// deduplicated when it is resent, and rejected input is dead-lettered only
// once its copy is stored, so nothing is lost either way.
func unavailable(out accept.Outcome) error {
	return &apiError{
		status:     http.StatusServiceUnavailable,
		message:    "the " + out.Store + " did not answer in time; resend the request, stored events are deduplicated",
		retryAfter: max(out.RetryAfter, retryAfter),
	}
}

func respond(w http.ResponseWriter, items []item, isBatch bool) error {
	var body acceptedBody
	body.Data.IDs = []string{}
	all := fieldErrors{}
	for i, it := range items {
		switch it.out.Result {
		case accept.Stored, accept.Duplicate:
			body.Data.IDs = append(body.Data.IDs, it.out.Event.GetId())
			continue
		case accept.Ignored:
			body.Data.Ignored = append(body.Data.Ignored, i)
			continue
		}
		prefix := ""
		if isBatch {
			prefix = fmt.Sprintf("[%d].", i)
		}
		fieldErrorsOf(it.out.Invalid, prefix, all)
		body.Data.Rejected = append(body.Data.Rejected, rejectedItem{
			Index: i, Message: it.out.Invalid.Error(), Data: fieldErrorsOf(it.out.Invalid, "", nil),
		})
	}
	switch {
	case len(body.Data.IDs) > 0 || len(body.Data.Ignored) > 0:
		writeJSON(w, http.StatusAccepted, body)
		return nil
	case !isBatch:
		return errBadRequest(items[0].out.Invalid.Error(), all)
	default:
		return errBadRequest("every event in the batch is invalid", all)
	}
}
