package deliver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/metrics"
)

// Attempt classes, the values of pbxhooks_delivery_attempts_total's result
// label: a fixed set, so the label's cardinality is bounded whatever the
// endpoints answer.
const (
	ClassSuccess        = "success"
	ClassRedirect       = "redirect"         // 3xx: not followed
	ClassClientError    = "http_4xx"         // 4xx other than 410 and 429
	ClassThrottled      = "throttled"        // 429
	ClassGone           = "gone"             // 410: the hook is disabled
	ClassServerError    = "http_5xx"         // 5xx
	ClassOtherStatus    = "http_other"       // 1xx or a status outside 100-599
	ClassTimeout        = "timeout"          // no answer within DELIVERY_TIMEOUT
	ClassConnection     = "connection_error" // refused, reset, DNS failure, TLS
	ClassRefused        = "refused"          // destination blocked by DELIVERY_ALLOW_CIDRS' guard
	ClassInvalidRequest = "invalid_request"  // bad method, URL or signing secret: nothing sent
	ClassResponseBroken = "response_broken"  // the 2xx response broke off while being read
)

// Reasons a hook is disabled, the values of pbxhooks_hooks_disabled_total's
// reason label.
const (
	DisabledGone     = "gone"
	DisabledFailures = "failures"
)

// eventToCallbackBuckets reach past the first retries (5 s, 30 s, 2 min,
// 10 min) to an hour, since a callback that succeeds on a retry counts too.
var eventToCallbackBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// Metrics are the deliverer's Prometheus metrics; Deliverer.Collectors
// exposes them for registration.
type Metrics struct {
	attempts        *prometheus.CounterVec
	attemptDuration prometheus.Histogram
	eventToCallback prometheus.Histogram
	hooksDisabled   *prometheus.CounterVec
}

// NewMetrics returns the deliverer's metrics, unregistered.
func NewMetrics() *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "delivery_attempts_total",
			Help: "Callback attempts by result: success or the class of failure.",
		}, []string{"result"}),
		attemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "delivery_attempt_duration_seconds",
			Help:    "Time from sending a callback request to its full response (or failure), per attempt that sent one.",
			Buckets: metrics.DurationBuckets,
		}),
		eventToCallback: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "event_to_callback_seconds",
			Help:    "Time from ingest receiving an event to a 2xx answer to its callback, retries included.",
			Buckets: eventToCallbackBuckets,
		}),
		hooksDisabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "hooks_disabled_total",
			Help: "Hooks disabled by the deliverer: gone (410) or failures (too many failures within the account's window).",
		}, []string{"reason"}),
	}
	// Every label value is known up front, so a rate over a class that has
	// not happened yet reads 0 instead of no data.
	for _, class := range []string{ClassSuccess, ClassRedirect, ClassClientError, ClassThrottled, ClassGone,
		ClassServerError, ClassOtherStatus, ClassTimeout, ClassConnection, ClassRefused, ClassInvalidRequest, ClassResponseBroken} {
		m.attempts.WithLabelValues(class)
	}
	m.hooksDisabled.WithLabelValues(DisabledGone)
	m.hooksDisabled.WithLabelValues(DisabledFailures)
	return m
}

// observe records one attempt's outcome. receivedAt is when ingest received
// the event (nil when the delivery predates that field): a success is
// measured from it.
func (m *Metrics) observe(out *outcome, receivedAt *timestamppb.Timestamp, now time.Time) {
	m.attempts.WithLabelValues(out.class).Inc()
	if out.class != ClassInvalidRequest {
		m.attemptDuration.Observe(out.requestTime.Seconds())
	}
	if out.class == ClassSuccess && receivedAt != nil {
		m.eventToCallback.Observe(max(now.Sub(receivedAt.AsTime()), 0).Seconds())
	}
}

// Collectors returns the deliverer's metrics, endpoints_parked included,
// for the service's registry.
func (d *Deliverer) Collectors() []prometheus.Collector {
	m := d.deps.Metrics
	parked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metrics.Namespace, Name: "endpoints_parked",
		Help: "Endpoints whose parked backlog this deliverer replica is serving (failing or slow endpoints).",
	}, func() float64 { return float64(d.parkedEndpoints()) })
	return []prometheus.Collector{m.attempts, m.attemptDuration, m.eventToCallback, m.hooksDisabled, parked}
}

// parkedEndpoints counts the lanes of the running parking lot.
func (d *Deliverer) parkedEndpoints() int {
	lot := d.parking.Load()
	if lot == nil {
		return 0
	}
	lot.mu.Lock()
	defer lot.mu.Unlock()
	return len(lot.lanes)
}
