// Package ingestmetrics holds ingest's Prometheus metrics, shared by the
// HTTP intake, the NATS consumer and the publisher, so an event is counted
// the same way whichever way it came in.
package ingestmetrics

import (
	"errors"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// Results of one PBX event, the values of pbxhooks_ingest_events_total's
// result label.
const (
	// ResultStored: stored on EVENTS.
	ResultStored = "stored"
	// ResultDuplicate: JetStream already held it (a resend); it counts as
	// stored for the sender.
	ResultDuplicate = "duplicate"
	// ResultRejected: invalid input, copied to the dead-letter stream.
	ResultRejected = "rejected"
	// ResultIgnored: well-formed input of a kind pbxhooks does not handle.
	ResultIgnored = "ignored"
	// ResultFailed: not stored in time; the sender resends (HTTP 503) or
	// JetStream redelivers (NATS).
	ResultFailed = "failed"
)

// Dead-letter reasons beside the validation rules of adapter (required,
// type, enum, minLength, maxLength, pattern, format, minimum, maximum,
// maxProperties).
const (
	// ReasonUnroutable: valid input whose event has no EVENTS subject.
	ReasonUnroutable = "unroutable"
	// ReasonOther: anything else (no adapter for the subject, an invalid
	// account id in it, a message over the size limit).
	ReasonOther = "other"
)

// validationRules are the rule names a ValidationError may carry.
var validationRules = []string{
	adapter.RuleRequired, adapter.RuleType, adapter.RuleEnum, adapter.RuleMinLength, adapter.RuleMaxLength,
	adapter.RulePattern, adapter.RuleFormat, adapter.RuleMinimum, adapter.RuleMaximum, adapter.RuleMaxProperties,
}

// Metrics are ingest's counters. A nil *Metrics counts nothing, so tests
// that do not look at metrics need not make one.
type Metrics struct {
	events      *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
}

// New returns ingest's metrics, unregistered.
func New() *Metrics {
	return &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "ingest_events_total",
			Help: "PBX events by input format (source: native, freeswitch, ari) and result (stored, duplicate, rejected, ignored, failed).",
		}, []string{"source", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "deadletters_total",
			Help: "Rejected PBX input copied to the dead-letter stream, by reason: the failed validation rule, unroutable or other.",
		}, []string{"reason"}),
	}
}

// Collectors returns the metrics for the service's registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.events, m.deadLetters}
}

// Event counts one event of source (an adapter's Name) with result.
func (m *Metrics) Event(source, result string) {
	if m == nil {
		return
	}
	m.events.WithLabelValues(source, result).Inc()
}

// DeadLetter counts one dead-letter copy; reason is Reason's or
// ReasonUnroutable.
func (m *Metrics) DeadLetter(reason string) {
	if m == nil {
		return
	}
	m.deadLetters.WithLabelValues(reason).Inc()
}

// Reason is the bounded label of a rejection: the rule of a validation
// error's first field, else ReasonOther.
func Reason(err error) string {
	var verr *adapter.ValidationError
	if errors.As(err, &verr) && len(verr.Fields) > 0 && slices.Contains(validationRules, verr.Fields[0].Rule) {
		return verr.Fields[0].Rule
	}
	return ReasonOther
}
