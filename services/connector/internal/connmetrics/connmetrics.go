// Package connmetrics holds the connector's Prometheus metrics.
package connmetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxhooks/pbxhooks/pkg/metrics"
)

// Metrics are the connector's counters and gauges.
type Metrics struct {
	Spooled         prometheus.Counter
	Published       prometheus.Counter
	PublishFailures prometheus.Counter
	SpoolFull       prometheus.Counter
	Reconstructed   *prometheus.CounterVec
	MediaUploaded   prometheus.Counter
	MediaDropped    prometheus.Counter
	spoolBytes      prometheus.GaugeFunc
	spoolEvents     prometheus.GaugeFunc
}

// New builds the metrics; spoolBytes and spoolEvents read the spool at
// scrape time.
func New(spoolBytes, spoolEvents func() float64) *Metrics {
	ns := metrics.Namespace
	return &Metrics{
		Spooled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "connector", Name: "events_spooled_total",
			Help: "PBX events (and reconstructed ones) written to the spool."}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "connector", Name: "events_published_total",
			Help: "Spooled events JetStream acknowledged."}),
		PublishFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "connector", Name: "publish_failures_total",
			Help: "Publish attempts that got no JetStream acknowledgement (the event stays spooled and is retried)."}),
		SpoolFull: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "connector", Name: "spool_full_total",
			Help: "Times the spool was full: the connector left the PBX until it drained, then resynchronised."}),
		Reconstructed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: "connector", Name: "reconstructed_events_total",
			Help: "Events made up after a gap in the PBX's stream, by lifecycle."}, []string{"lifecycle"}),
		MediaUploaded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "connector", Name: "media_uploaded_total",
			Help: "Recordings and voicemail messages ingest accepted."}),
		MediaDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: "connector", Name: "media_dropped_total",
			Help: "Recordings and voicemail messages not uploaded: outside the media root, gone, or refused by ingest."}),
		spoolBytes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: "connector", Name: "spool_bytes",
			Help: "Bytes of events waiting in the spool."}, spoolBytes),
		spoolEvents: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: "connector", Name: "spool_events",
			Help: "Events waiting in the spool."}, spoolEvents),
	}
}

// Collectors lists every metric for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Spooled, m.Published, m.PublishFailures, m.SpoolFull, m.Reconstructed, m.MediaUploaded, m.MediaDropped, m.spoolBytes, m.spoolEvents}
}
