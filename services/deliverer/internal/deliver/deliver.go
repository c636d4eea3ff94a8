// Package deliver consumes rendered deliveries, sends each to its endpoint
// and records the attempt.
//
// A delivery is acked only after its attempt row is committed, and only when
// it succeeded or has no retries left; otherwise it is nak'ed with the retry
// schedule's delay, so JetStream keeps it (and its wait) across restarts.
// Redeliveries carry the same webhook-id, so receivers can dedupe.
package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/outbound"
)

// Request headers every callback carries.
const (
	HeaderHookID    = "X-Hook-ID"
	HeaderAccountID = "X-Account-ID"
	// HeaderWebhookID is the Standard Webhooks id: the delivery id, the same
	// on every retry.
	HeaderWebhookID = "webhook-id"
	UserAgent       = "pbxhooks/1"
)

// Attempt results as stored.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// DefaultMaxResponseBytes bounds the response body kept in an attempt row.
const DefaultMaxResponseBytes = 64 << 10

// drainLimit is how much of a response body beyond what is kept is read so
// the connection can go back to the keep-alive pool; past it the connection
// is closed instead.
const drainLimit = 256 << 10

// Recorder stores one attempt durably; *attempts.Writer implements it.
type Recorder interface {
	Record(ctx context.Context, row store.InsertAttemptsParams) error
}

// Deps are what a Deliverer needs.
type Deps struct {
	JS       jetstream.JetStream
	Client   *http.Client
	Attempts Recorder
	Log      *slog.Logger
	// Schedule gives the delay before the next attempt after a failure;
	// DefaultRetrySchedule when its Steps and Then are both zero.
	Schedule RetrySchedule
	// MaxResponseBytes bounds the response body kept per attempt.
	MaxResponseBytes int
	// Now is the clock for attempt timestamps and latency; time.Now when nil.
	Now func() time.Time
}

// Deliverer is the DELIVERIES handler.
type Deliverer struct {
	deps Deps
}

// New returns a Deliverer with defaults filled in.
func New(deps Deps) *Deliverer {
	if len(deps.Schedule.Steps) == 0 && deps.Schedule.Then == 0 {
		deps.Schedule = DefaultRetrySchedule()
	}
	if deps.MaxResponseBytes <= 0 {
		deps.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Deliverer{deps: deps}
}

// Processor returns the consumer that runs Handle over every delivery.
// ackWait must exceed the longest request plus the attempt write.
func (d *Deliverer) Processor(workers int, ackWait time.Duration) *bus.Processor {
	return &bus.Processor{
		JS: d.deps.JS,
		Spec: bus.ConsumerSpec{
			Stream:         bus.StreamDeliveries,
			Durable:        bus.ConsumerDeliverer,
			FilterSubjects: []string{bus.SubjectDeliveriesAll},
			AckWait:        ackWait,
			// A delivery waiting for its retry stays pending on the
			// consumer, so the bound must leave room for a backlog of
			// retries besides the deliveries in flight.
			MaxAckPending: max(20_000, workers*4),
		},
		Handler: d.Handle,
		Log:     d.deps.Log,
		Workers: workers,
	}
}

// Handle sends one delivery and records the attempt. It returns nil (ack)
// once the outcome is final and recorded, a RetryError when the endpoint
// failed and retries are left, a plain error (redelivery) when the attempt
// could not be recorded, and a PermanentError for a message that is not a
// usable Delivery.
func (d *Deliverer) Handle(ctx context.Context, msg jetstream.Msg) error {
	var delivery pbxhooksv1.Delivery
	if err := proto.Unmarshal(msg.Data(), &delivery); err != nil {
		return bus.Permanent("delivery is not a valid protobuf Delivery", err)
	}
	if err := validate(&delivery); err != nil {
		return bus.Permanent("unusable delivery", err)
	}
	attempt := 1
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 0 {
		attempt = int(min(md.NumDelivered, 1<<30))
	}
	log := d.deps.Log.With(telemetry.KeyDeliveryID, delivery.GetId(), telemetry.KeyHookID, delivery.GetHookId(),
		telemetry.KeyAccountID, delivery.GetAccountId(), "attempt", attempt)

	row, retryable := d.send(ctx, &delivery)
	row.Attempt = int32(attempt)
	row.RetriesLeft = max(delivery.GetRetries()-int32(attempt-1), 0)
	if !retryable {
		row.RetriesLeft = 0
	}

	if err := d.deps.Attempts.Record(ctx, row); err != nil {
		// Never ack an outcome that is not recorded: the delivery is sent
		// again, with the same webhook-id.
		return fmt.Errorf("record attempt %d of delivery %s: %w", attempt, delivery.GetId(), err)
	}
	switch {
	case row.Result == ResultSuccess:
		log.DebugContext(ctx, "delivered", "status", derefInt(row.ResponseStatus), "latency_ms", row.LatencyMs)
		return nil
	case row.RetriesLeft == 0:
		log.InfoContext(ctx, "delivery failed; no retries left", "reason", row.Reason)
		return nil
	default:
		delay := d.deps.Schedule.Delay(attempt)
		return bus.RetryAfter(delay, fmt.Errorf("delivery %s attempt %d: %s", delivery.GetId(), attempt, row.Reason))
	}
}

func validate(d *pbxhooksv1.Delivery) error {
	if d.GetId() == "" || d.GetHookId() == "" || d.GetEventId() == "" {
		return errors.New("delivery lacks its id, hook id or event id")
	}
	if err := event.ValidateAccountID(d.GetAccountId()); err != nil {
		return err
	}
	return nil
}

// send performs the request and describes the outcome as an attempt row
// (without the attempt number and retries left). retryable is false when the
// delivery itself is unusable (bad method or URL): sending it again cannot
// succeed.
func (d *Deliverer) send(ctx context.Context, delivery *pbxhooksv1.Delivery) (row store.InsertAttemptsParams, retryable bool) {
	started := d.deps.Now()
	row = store.InsertAttemptsParams{
		AccountID:     delivery.GetAccountId(),
		HookID:        delivery.GetHookId(),
		EventID:       delivery.GetEventId(),
		DeliveryID:    delivery.GetId(),
		RequestMethod: strings.ToUpper(delivery.GetMethod()),
		RequestUrl:    cleanText(redactedURL(delivery.GetUrl())),
		CreatedAt:     started,
	}
	req, err := newRequest(ctx, delivery)
	if err != nil {
		reason := cleanText(err.Error())
		row.Result, row.Reason, row.ClientError = ResultFailure, reason, &reason
		row.RequestHeaders = json.RawMessage(`{}`)
		return row, false
	}
	row.RequestHeaders = headersJSON(req.Header)

	resp, err := d.deps.Client.Do(req)
	if err != nil {
		row.LatencyMs = latencyMs(started, d.deps.Now())
		row.Result, row.Reason = ResultFailure, failureReason(err)
		clientErr := cleanText(err.Error())
		row.ClientError = &clientErr
		return row, true
	}
	body, readErr := readBody(resp.Body, d.deps.MaxResponseBytes)
	row.LatencyMs = latencyMs(started, d.deps.Now())
	status := int32(resp.StatusCode)
	row.ResponseStatus = &status
	row.ResponseHeaders = headersJSON(resp.Header)
	row.ResponseBody = &body
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		row.Result, row.Reason = ResultSuccess, ""
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		row.Result, row.Reason = ResultFailure, fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	default:
		row.Result, row.Reason = ResultFailure, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if readErr != nil && row.Result == ResultSuccess {
		// The status line arrived but the response broke off: the receiver
		// may not have finished handling it, so it is not a success.
		row.Result, row.Reason = ResultFailure, "reading the response failed"
		clientErr := cleanText(readErr.Error())
		row.ClientError = &clientErr
	}
	return row, true
}

func newRequest(ctx context.Context, delivery *pbxhooksv1.Delivery) (*http.Request, error) {
	method := strings.ToUpper(delivery.GetMethod())
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut:
	default:
		return nil, fmt.Errorf("unsupported method %q", delivery.GetMethod())
	}
	u, err := url.Parse(delivery.GetUrl())
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: must be an absolute http or https URL", delivery.GetUrl())
	}
	var body io.Reader
	if len(delivery.GetBody()) > 0 {
		body = bytes.NewReader(delivery.GetBody())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if ct := delivery.GetContentType(); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderHookID, delivery.GetHookId())
	req.Header.Set(HeaderAccountID, delivery.GetAccountId())
	req.Header.Set(HeaderWebhookID, delivery.GetId())
	return req, nil
}

// failureReason names a transport failure in words an operator acts on; the
// raw error goes to client_error.
func failureReason(err error) string {
	var refused *outbound.RefusedError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	default:
		return "connection error"
	}
}

// readBody keeps up to limit bytes of the body, then drains a bounded
// remainder so the connection can be reused.
func readBody(rc io.ReadCloser, limit int) (string, error) {
	defer rc.Close()
	kept, err := io.ReadAll(io.LimitReader(rc, int64(limit)))
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(rc, drainLimit))
	}
	return cleanText(string(kept)), err
}

// headersJSON stores headers as a JSON object of strings, several values
// joined with ", " as HTTP allows.
func headersJSON(h http.Header) json.RawMessage {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		out[cleanText(k)] = cleanText(strings.Join(vs, ", "))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// cleanText makes outside text storable in PostgreSQL text and jsonb, which
// reject NUL bytes and invalid UTF-8.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// redactedURL hides a password in the URL's userinfo: attempt rows are
// shown through the API and must not leak credentials.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}

func latencyMs(start, end time.Time) int32 {
	return int32(min(max(end.Sub(start).Milliseconds(), 0), 1<<31-1))
}

func derefInt(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
