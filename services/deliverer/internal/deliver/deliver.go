// Package deliver consumes rendered deliveries, sends each to its endpoint
// and records the attempt.
//
// Persistence of retries: a failed delivery is nak'ed with the retry
// schedule's delay (JetStream NakWithDelay). The message stays in the
// DELIVERIES stream, pending on the durable consumer, and JetStream itself
// redelivers it when the delay is over, so the wait survives a deliverer
// restart or crash with no schedule table of ours; a replica killed
// mid-request leaves the message unacked and JetStream redelivers it after
// the ack wait. A failing or slow endpoint's deliveries leave the shared
// consumer for a parked backlog of their own (parking.go), where retries
// work the same way on that endpoint's consumer. The attempt number is not
// JetStream's delivery count (a delivery deferred by the endpoint gate, or
// parked, is delivered again without an attempt):
// a redelivered message counts its failed attempt rows in PostgreSQL, which
// also lets a delivery whose success was recorded just before a crash be
// acked without sending it again.
//
// A delivery is acked only after its attempt row is committed, and only when
// it succeeded or has no retries left; redeliveries carry the same
// webhook-id, so receivers can dedupe.
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
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/netguard"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/autodisable"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/endpoint"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/hookstate"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/signing"
)

// Request headers every callback carries.
const (
	HeaderHookID    = "X-Hook-ID"
	HeaderAccountID = "X-Account-ID"
	// HeaderWebhookID is the Standard Webhooks id: the delivery id, the same
	// on every retry.
	HeaderWebhookID = signing.HeaderID
	UserAgent       = "pbxhooks/1"
)

// Attempt results as stored.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// DefaultMaxResponseBytes bounds the response body kept in an attempt row;
// the rest is read (up to drainLimit more) and discarded.
const DefaultMaxResponseBytes = 64 << 10

// drainLimit is how much of a response body beyond what is kept is read so
// the connection can go back to the keep-alive pool; past it the connection
// is closed instead.
const drainLimit = 256 << 10

// Retry-After bounds: a receiver may slow us down, not stop a delivery for
// days nor make us hammer it.
const (
	MinRetryAfter = time.Second
	MaxRetryAfter = time.Hour
)

// attemptLookback bounds the scan for a delivery's earlier attempts: no
// delivery lives longer than the DELIVERIES stream's seven-day MaxAge.
const attemptLookback = 8 * 24 * time.Hour

// Recorder stores one attempt durably; *attempts.Writer implements it.
type Recorder interface {
	Record(ctx context.Context, row store.InsertAttemptsParams) error
}

// HookSource gives a hook's delivery-time state; *hookstate.Cache
// implements it.
type HookSource interface {
	Get(ctx context.Context, accountID, hookID string) (*hookstate.Hook, error)
}

// FailureTracker counts failures towards auto-disable;
// *autodisable.Tracker implements it.
type FailureTracker interface {
	Failure(ctx context.Context, h *hookstate.Hook, failedAt time.Time) (bool, error)
	Success(ctx context.Context, hookID string) error
	Disable(ctx context.Context, h *hookstate.Hook, reason string) (bool, error)
}

// AttemptCounter reads a delivery's earlier attempts; *store.Queries
// implements it.
type AttemptCounter interface {
	CountDeliveryAttempts(ctx context.Context, arg store.CountDeliveryAttemptsParams) (store.CountDeliveryAttemptsRow, error)
	DeliveryAttemptHistory(ctx context.Context, arg store.DeliveryAttemptHistoryParams) (store.DeliveryAttemptHistoryRow, error)
}

// Deps are what a Deliverer needs.
type Deps struct {
	JS     jetstream.JetStream
	Client *http.Client
	// Relay sends the requests of relay hooks to their `pbxhooks listen`
	// listener instead of Client dialling their uri (see internal/relay);
	// when nil, relay hooks' attempts fail and are retried.
	Relay    *http.Client
	Attempts Recorder
	Counter  AttemptCounter
	Hooks    HookSource
	Failures FailureTracker
	// Gate caps requests per endpoint and holds the circuit breakers;
	// endpoint defaults when nil.
	Gate *endpoint.Gate
	Log  *slog.Logger
	// Schedule gives the delay before the next attempt after a failure;
	// DefaultRetrySchedule when its Steps and Then are both zero.
	Schedule RetrySchedule
	// MaxResponseBytes bounds the response body kept per attempt.
	MaxResponseBytes int
	// Now is the clock for attempt timestamps, signatures and latency;
	// time.Now when nil.
	Now func() time.Time
	// Metrics counts attempts and their outcomes; unregistered ones when
	// nil. Collectors exposes them.
	Metrics *Metrics
}

// Deliverer is the DELIVERIES handler.
type Deliverer struct {
	deps Deps
	// parking is set while RunParking runs; until then a troubled
	// endpoint's deliveries are handed back to the shared consumer.
	parking atomic.Pointer[parkingLot]
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
	if deps.Gate == nil {
		deps.Gate = endpoint.NewGate(endpoint.Config{Now: deps.Now})
	}
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics()
	}
	return &Deliverer{deps: deps}
}

// DefaultMaxAckPending bounds the deliveries pending on the shared consumer
// across all replicas: in flight, waiting for a retry, or deferred because
// a fast endpoint was busy. A failing endpoint's backlog is parked, not held
// here, so it cannot fill this and stop healthy deliveries being fetched.
const DefaultMaxAckPending = 50_000

// Processor returns the consumer that runs Handle over every delivery.
// ackWait must exceed the longest request plus the attempt write.
func (d *Deliverer) Processor(workers int, ackWait time.Duration, maxAckPending int) *bus.Processor {
	if maxAckPending <= 0 {
		maxAckPending = DefaultMaxAckPending
	}
	return &bus.Processor{
		JS: d.deps.JS,
		Spec: bus.ConsumerSpec{
			Stream:         bus.StreamDeliveries,
			Durable:        bus.ConsumerDeliverer,
			FilterSubjects: []string{bus.SubjectDeliveriesAll},
			AckWait:        ackWait,
			MaxAckPending:  max(maxAckPending, workers*4),
		},
		Handler: d.Handle,
		Log:     d.deps.Log,
		Workers: workers,
	}
}

// Handle sends one delivery from the shared DELIVERIES consumer and records
// the attempt. It returns nil (ack) once the outcome is final and recorded,
// or once the delivery was moved to its endpoint's parked backlog; a
// RetryError when the endpoint failed and retries are left; a DeferredError
// when the endpoint is busy (no attempt made); a plain error (redelivery)
// when the hook or the attempt could not be read or recorded; and a
// PermanentError for a message that is not a usable Delivery.
func (d *Deliverer) Handle(ctx context.Context, msg jetstream.Msg) error {
	var earlierDeliveries int
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 1 {
		earlierDeliveries = int(min(md.NumDelivered-1, 1<<20))
	}
	redelivered := earlierDeliveries > 0
	job, err := d.prepare(ctx, msg, redelivered)
	if job == nil {
		return err
	}
	key := job.endpointKey()
	adm := d.deps.Gate.AdmitWaiting(ctx, key, earlierDeliveries)
	if adm.Ticket == nil {
		if lot := d.parking.Load(); lot != nil && adm.Troubled {
			return lot.park(ctx, msg, key)
		}
		return bus.Defer(adm.Wait, "endpoint busy or its circuit breaker is open")
	}
	return d.attempt(ctx, job, adm.Ticket, redelivered)
}

// handleParked sends one delivery fetched from its endpoint's parked
// backlog, with the ticket the gate gave before the fetch. Its results are
// Handle's. A parked delivery may have been attempted before it was parked,
// so its attempt number always comes from the attempt rows.
func (d *Deliverer) handleParked(ctx context.Context, msg jetstream.Msg, ticket *endpoint.Ticket) error {
	job, err := d.prepare(ctx, msg, true)
	if job == nil {
		ticket.Release()
		return err
	}
	return d.attempt(ctx, job, ticket, true)
}

// job is a decoded delivery whose hook is known and enabled.
type job struct {
	delivery *pbxhooksv1.Delivery
	hook     *hookstate.Hook
	log      *slog.Logger
}

// endpointKey names what the gate and the parked backlogs count as the
// job's endpoint: a relay hook's listener is its own endpoint, whatever
// local URL it forwards to (two accounts' listeners on localhost:3000 are
// not one endpoint).
func (j *job) endpointKey() string {
	if j.hook.Relay {
		return "relay://" + j.hook.ID
	}
	return endpoint.Key(j.delivery.GetUrl())
}

// prepare decodes the delivery and reads its hook. A nil job means the
// delivery needs no request, and err is Handle's result: nil once a deleted
// hook's delivery is dropped or a disabled hook's is recorded as not sent.
func (d *Deliverer) prepare(ctx context.Context, msg jetstream.Msg, redelivered bool) (*job, error) {
	var delivery pbxhooksv1.Delivery
	if err := proto.Unmarshal(msg.Data(), &delivery); err != nil {
		return nil, bus.Permanent("delivery is not a valid protobuf Delivery", err)
	}
	if err := validate(&delivery); err != nil {
		return nil, bus.Permanent("unusable delivery", err)
	}
	log := d.deps.Log.With(telemetry.KeyDeliveryID, delivery.GetId(), telemetry.KeyHookID, delivery.GetHookId(),
		telemetry.KeyAccountID, delivery.GetAccountId())

	hook, err := d.deps.Hooks.Get(ctx, delivery.GetAccountId(), delivery.GetHookId())
	if errors.Is(err, hookstate.ErrNotFound) {
		log.InfoContext(ctx, "hook deleted; delivery dropped")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !hook.Enabled && delivery.GetCreatedAt().AsTime().Before(hook.ModifiedAt) {
		// Queued before the hook was disabled: not sent. A delivery made
		// after (a test event, which reaches disabled hooks too) is sent.
		return nil, d.recordNotSent(ctx, &delivery, hook, redelivered)
	}
	return &job{delivery: &delivery, hook: hook, log: log}, nil
}

// attempt makes one admitted attempt and records it; it owns the ticket.
func (d *Deliverer) attempt(ctx context.Context, j *job, ticket *endpoint.Ticket, redelivered bool) error {
	delivery, hook := j.delivery, j.hook
	attempt, done, err := d.attemptNumber(ctx, delivery, redelivered)
	if err != nil || done {
		ticket.Release()
		return err
	}
	log := j.log.With("attempt", attempt)

	out := d.send(ctx, delivery, hook)
	ticket.Done(out.endpointFailed)
	d.deps.Metrics.observe(&out, delivery.GetEventReceivedAt(), d.deps.Now())
	out.row.Attempt = int32(attempt)
	out.row.RetriesLeft = max(delivery.GetRetries()-int32(attempt-1), 0)
	if out.final {
		out.row.RetriesLeft = 0
	}
	d.trackHealth(ctx, log, hook, &out)

	if err := d.deps.Attempts.Record(ctx, out.row); err != nil {
		// Never ack an outcome that is not recorded: the delivery is sent
		// again, with the same webhook-id.
		return fmt.Errorf("record attempt %d of delivery %s: %w", attempt, delivery.GetId(), err)
	}
	switch {
	case out.row.Result == ResultSuccess:
		log.DebugContext(ctx, "delivered", "status", derefInt(out.row.ResponseStatus), "latency_ms", out.row.LatencyMs)
		return nil
	case out.row.RetriesLeft == 0:
		log.InfoContext(ctx, "delivery failed; no retries left", "reason", out.row.Reason)
		return nil
	default:
		delay := d.deps.Schedule.Delay(attempt)
		if out.retryAfter > 0 {
			delay = out.retryAfter
		}
		return bus.RetryAfter(delay, fmt.Errorf("delivery %s attempt %d: %s", delivery.GetId(), attempt, out.row.Reason))
	}
}

// attemptNumber is 1 for a first delivery. A redelivered message counts its
// failed attempts in PostgreSQL; done is true when it needs no attempt: a
// success is already recorded (the ack was lost to a crash) or every retry
// is spent (the final nak or ack was lost).
func (d *Deliverer) attemptNumber(ctx context.Context, delivery *pbxhooksv1.Delivery, redelivered bool) (attempt int, done bool, err error) {
	if delivery.GetResendId() != "" {
		return d.resendAttemptNumber(ctx, delivery, redelivered)
	}
	if !redelivered {
		return 1, false, nil
	}
	seen, err := d.deps.Counter.CountDeliveryAttempts(ctx, store.CountDeliveryAttemptsParams{
		DeliveryID: delivery.GetId(), Since: d.deps.Now().Add(-attemptLookback),
	})
	if err != nil {
		return 0, false, fmt.Errorf("count attempts of delivery %s: %w", delivery.GetId(), err)
	}
	if seen.Succeeded || int(seen.Failures) > int(delivery.GetRetries()) {
		return 0, true, nil
	}
	return int(seen.Failures) + 1, false, nil
}

// resendAttemptNumber numbers a resend (bus.ResendRequest) after every
// earlier attempt of its delivery, successful or not. A redelivered or
// parked resend needs no attempt once one newer than the resend request is
// recorded: its own, whose ack was lost, or one of the original's retries.
func (d *Deliverer) resendAttemptNumber(ctx context.Context, delivery *pbxhooksv1.Delivery, redelivered bool) (attempt int, done bool, err error) {
	history, err := d.deps.Counter.DeliveryAttemptHistory(ctx, store.DeliveryAttemptHistoryParams{
		DeliveryID: delivery.GetId(), Since: d.deps.Now().Add(-attemptLookback),
	})
	if err != nil {
		return 0, false, fmt.Errorf("read attempts of resent delivery %s: %w", delivery.GetId(), err)
	}
	if redelivered && !history.LastAt.Before(delivery.GetCreatedAt().AsTime()) {
		return 0, true, nil
	}
	return int(history.LastAttempt) + 1, false, nil
}

// trackHealth feeds auto-disable: 410 disables the hook at once, any other
// failure counts towards the hook's window, a success empties it. Errors
// are logged: the attempt's own outcome stands either way.
func (d *Deliverer) trackHealth(ctx context.Context, log *slog.Logger, hook *hookstate.Hook, out *outcome) {
	var (
		disabled bool
		err      error
	)
	switch {
	case out.row.Result == ResultSuccess:
		err = d.deps.Failures.Success(ctx, hook.ID)
	case out.gone:
		disabled, err = d.deps.Failures.Disable(ctx, hook, autodisable.ReasonGone)
		out.row.RetriesLeft = 0
		if disabled {
			d.deps.Metrics.hooksDisabled.WithLabelValues(DisabledGone).Inc()
		}
	default:
		disabled, err = d.deps.Failures.Failure(ctx, hook, out.row.CreatedAt)
		if disabled {
			d.deps.Metrics.hooksDisabled.WithLabelValues(DisabledFailures).Inc()
		}
	}
	if err != nil {
		log.WarnContext(ctx, "auto-disable bookkeeping failed", telemetry.KeyError, err)
	}
	if disabled {
		// The hook is off: this delivery stops here, like its queued peers.
		out.row.RetriesLeft = 0
		out.row.Reason += "; hook disabled"
	}
}

// recordNotSent records that a delivery queued before its hook was disabled
// was dropped, so the account's attempt log explains the gap.
func (d *Deliverer) recordNotSent(ctx context.Context, delivery *pbxhooksv1.Delivery, hook *hookstate.Hook, redelivered bool) error {
	if redelivered {
		// An earlier run may have recorded it already.
		seen, err := d.deps.Counter.CountDeliveryAttempts(ctx, store.CountDeliveryAttemptsParams{
			DeliveryID: delivery.GetId(), Since: d.deps.Now().Add(-attemptLookback),
		})
		if err != nil {
			return fmt.Errorf("count attempts of delivery %s: %w", delivery.GetId(), err)
		}
		if seen.Succeeded || seen.Failures > 0 {
			return nil
		}
	}
	reason := "not sent: hook disabled"
	if hook.DisableReason != "" {
		reason += " (" + cleanText(hook.DisableReason) + ")"
	}
	row := store.InsertAttemptsParams{
		AccountID: delivery.GetAccountId(), HookID: delivery.GetHookId(), EventID: delivery.GetEventId(),
		DeliveryID: delivery.GetId(), Attempt: 1, RetriesLeft: 0, Result: ResultFailure, Reason: reason,
		RequestMethod: strings.ToUpper(delivery.GetMethod()), RequestUrl: cleanText(redactedURL(delivery.GetUrl())),
		RequestHeaders: json.RawMessage(`{}`), CreatedAt: d.deps.Now(),
	}
	if err := d.deps.Attempts.Record(ctx, row); err != nil {
		return fmt.Errorf("record skipped delivery %s: %w", delivery.GetId(), err)
	}
	return nil
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

// outcome is one attempt described as an attempt row (without the attempt
// number and retries left) plus what the retry logic needs to know.
type outcome struct {
	row store.InsertAttemptsParams
	// final: sending again cannot succeed (bad method, URL or secret).
	final bool
	// endpointFailed: the endpoint itself misbehaved (connection error,
	// timeout, 5xx, 408, 429), which feeds its circuit breaker.
	endpointFailed bool
	// gone: the endpoint answered 410.
	gone bool
	// retryAfter is the receiver's Retry-After on 429 or 503, clamped; zero
	// when absent.
	retryAfter time.Duration
	// class is the attempt's result for pbxhooks_delivery_attempts_total.
	class string
	// requestTime is from sending the request to the end of its response.
	requestTime time.Duration
}

// send performs the request and describes the outcome.
func (d *Deliverer) send(ctx context.Context, delivery *pbxhooksv1.Delivery, hook *hookstate.Hook) outcome {
	started := d.deps.Now()
	out := outcome{row: store.InsertAttemptsParams{
		AccountID:      delivery.GetAccountId(),
		HookID:         delivery.GetHookId(),
		EventID:        delivery.GetEventId(),
		DeliveryID:     delivery.GetId(),
		RequestMethod:  strings.ToUpper(delivery.GetMethod()),
		RequestUrl:     cleanText(redactedURL(delivery.GetUrl())),
		RequestHeaders: json.RawMessage(`{}`),
		CreatedAt:      started,
	}}
	row := &out.row
	req, err := newRequest(ctx, delivery, hook, started)
	if err != nil {
		reason := cleanText(err.Error())
		row.Result, row.Reason, row.ClientError = ResultFailure, reason, &reason
		out.final, out.class = true, ClassInvalidRequest
		return out
	}
	req, span := startClientSpan(req)
	row.RequestHeaders = headersJSON(req.Header)

	client := d.deps.Client
	if hook.Relay {
		client = d.deps.Relay
	}
	var resp *http.Response
	if client == nil {
		err = errNoRelay
	} else {
		resp, err = client.Do(req)
	}
	if err != nil {
		out.requestTime = d.deps.Now().Sub(started)
		row.LatencyMs = latencyMs(started, d.deps.Now())
		row.Result = ResultFailure
		out.class, row.Reason = transportFailure(err)
		endClientSpan(span, 0, out.class, err)
		clientErr := cleanText(err.Error())
		row.ClientError = &clientErr
		var refused *netguard.RefusedError
		out.endpointFailed = !errors.As(err, &refused)
		return out
	}
	body, readErr := readBody(resp.Body, d.deps.MaxResponseBytes)
	out.requestTime = d.deps.Now().Sub(started)
	row.LatencyMs = latencyMs(started, d.deps.Now())
	status := int32(resp.StatusCode)
	row.ResponseStatus = &status
	row.ResponseHeaders = headersJSON(resp.Header)
	row.ResponseBody = &body
	code := resp.StatusCode
	out.class = statusClass(code)
	switch {
	case code >= 200 && code < 300:
		row.Result, row.Reason = ResultSuccess, ""
	case code >= 300 && code < 400:
		row.Result, row.Reason = ResultFailure, fmt.Sprintf("HTTP %d: redirects are not followed", code)
	case code == http.StatusGone:
		row.Result, row.Reason = ResultFailure, "HTTP 410: endpoint gone; hook disabled"
		out.gone, out.final = true, true
	default:
		row.Result, row.Reason = ResultFailure, fmt.Sprintf("HTTP %d", code)
		out.endpointFailed = code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		if wait, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), d.deps.Now()); ok {
			out.retryAfter = wait
			row.Reason += fmt.Sprintf(" (Retry-After %s)", wait)
		}
	}
	if readErr != nil && row.Result == ResultSuccess {
		// The status line arrived but the response broke off: the receiver
		// may not have finished handling it, so it is not a success.
		row.Result, row.Reason = ResultFailure, "reading the response failed"
		clientErr := cleanText(readErr.Error())
		row.ClientError = &clientErr
		out.endpointFailed = true
		out.class = ClassResponseBroken
	}
	errorType := ""
	if code >= 400 {
		errorType = strconv.Itoa(code)
	}
	if readErr != nil {
		errorType = ClassResponseBroken
	}
	endClientSpan(span, code, errorType, readErr)
	return out
}

// errNoRelay fails a relay hook's attempt in a deliverer built without
// Deps.Relay.
var errNoRelay = errors.New("this deliverer cannot relay")

// ParseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date,
// clamped to [MinRetryAfter, MaxRetryAfter]. ok is false when the value is
// absent or unreadable, and the retry schedule applies instead.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	var wait time.Duration
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		wait = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(value); err == nil {
		wait = at.Sub(now)
	} else {
		return 0, false
	}
	return min(max(wait, MinRetryAfter), MaxRetryAfter), true
}

// newRequest builds the signed request. For GET hooks the payload is in the
// URL's query string and the signed body is the empty string.
func newRequest(ctx context.Context, delivery *pbxhooksv1.Delivery, hook *hookstate.Hook, now time.Time) (*http.Request, error) {
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
	keys, err := hook.SigningKeys(now)
	if err != nil {
		return nil, fmt.Errorf("cannot sign: %w", err)
	}
	var payload []byte
	if method != http.MethodGet {
		payload = delivery.GetBody()
	}
	signature, err := signing.Signature(keys, delivery.GetId(), now, payload)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if len(payload) > 0 {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if ct := delivery.GetContentType(); ct != "" && method != http.MethodGet {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderHookID, delivery.GetHookId())
	req.Header.Set(HeaderAccountID, delivery.GetAccountId())
	req.Header.Set(signing.HeaderID, delivery.GetId())
	req.Header.Set(signing.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(signing.HeaderSignature, signature)
	return req, nil
}

// transportFailure names a transport failure: its metric class, and the
// reason in words an operator acts on (the raw error goes to client_error).
func transportFailure(err error) (class, reason string) {
	var refused *netguard.RefusedError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		return ClassRefused, refused.Error()
	case errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout, "timeout"
	default:
		return ClassConnection, "connection error"
	}
}

// statusClass is the metric class of an answered request.
func statusClass(code int) string {
	switch {
	case code >= 200 && code < 300:
		return ClassSuccess
	case code == http.StatusGone:
		return ClassGone
	case code == http.StatusTooManyRequests:
		return ClassThrottled
	case code >= 300 && code < 400:
		return ClassRedirect
	case code >= 400 && code < 500:
		return ClassClientError
	case code >= 500 && code < 600:
		return ClassServerError
	default:
		return ClassOtherStatus
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
