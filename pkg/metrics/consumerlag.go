package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Consumer names a durable JetStream consumer whose lag a service reports.
type Consumer struct {
	Stream  string
	Durable string
	// WholeStream sums every consumer of Stream under the label Durable,
	// for streams with one consumer per endpoint (PARKED): their names are
	// unbounded and must not become label values.
	WholeStream bool
}

// DefaultLagMaxAge is how old a scrape's consumer figures may be before
// JetStream is asked again; scrapes in between are served from the cache,
// so a busy scraper costs JetStream nothing extra.
const DefaultLagMaxAge = 5 * time.Second

// lagTimeout bounds one refresh, so a NATS outage slows a scrape by at most
// this and never hangs it.
const lagTimeout = 2 * time.Second

// ConsumerLag is a collector of each consumer's pending messages (stored but
// not yet delivered to it) and ack-pending messages (delivered, not yet
// acknowledged: in process, or waiting for a retry's delay). A consumer
// whose figures cannot be read is left out of that scrape and counted in
// pbxhooks_consumer_info_errors_total.
type ConsumerLag struct {
	js        jetstream.JetStream
	consumers []Consumer
	maxAge    time.Duration
	now       func() time.Time

	pending    *prometheus.Desc
	ackPending *prometheus.Desc
	errors     prometheus.Counter

	mu      sync.Mutex
	fetched time.Time
	samples []lagSample
}

type lagSample struct {
	c                   Consumer
	pending, ackPending float64
}

// NewConsumerLag reports the lag of consumers, read from JetStream at most
// once per maxAge (DefaultLagMaxAge when zero).
func NewConsumerLag(js jetstream.JetStream, maxAge time.Duration, consumers ...Consumer) *ConsumerLag {
	if maxAge <= 0 {
		maxAge = DefaultLagMaxAge
	}
	labels := []string{"stream", "consumer"}
	return &ConsumerLag{
		js:        js,
		consumers: consumers,
		maxAge:    maxAge,
		now:       time.Now,
		pending: prometheus.NewDesc(Namespace+"_consumer_pending_messages",
			"Messages stored on the stream that the durable consumer has not been delivered yet.", labels, nil),
		ackPending: prometheus.NewDesc(Namespace+"_consumer_ack_pending_messages",
			"Messages delivered to the durable consumer and not acknowledged yet (in process or waiting for a retry).", labels, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "consumer_info_errors_total",
			Help: "Reads of consumer figures from JetStream that failed; those consumers were left out of the scrape.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (l *ConsumerLag) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.pending
	ch <- l.ackPending
	l.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (l *ConsumerLag) Collect(ch chan<- prometheus.Metric) {
	for _, s := range l.current() {
		ch <- prometheus.MustNewConstMetric(l.pending, prometheus.GaugeValue, s.pending, s.c.Stream, s.c.Durable)
		ch <- prometheus.MustNewConstMetric(l.ackPending, prometheus.GaugeValue, s.ackPending, s.c.Stream, s.c.Durable)
	}
	l.errors.Collect(ch)
}

// current returns the cached figures, refreshing them when stale. Holding
// the lock through the refresh makes concurrent scrapes share one.
func (l *ConsumerLag) current() []lagSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.fetched.IsZero() && l.now().Sub(l.fetched) < l.maxAge {
		return l.samples
	}
	ctx, cancel := context.WithTimeout(context.Background(), lagTimeout)
	defer cancel()
	samples := make([]lagSample, 0, len(l.consumers))
	for _, c := range l.consumers {
		s, err := l.read(ctx, c)
		if err != nil {
			l.errors.Inc()
			continue
		}
		samples = append(samples, s)
	}
	l.samples, l.fetched = samples, l.now()
	return samples
}

func (l *ConsumerLag) read(ctx context.Context, c Consumer) (lagSample, error) {
	s := lagSample{c: c}
	if !c.WholeStream {
		cons, err := l.js.Consumer(ctx, c.Stream, c.Durable)
		if err != nil {
			return s, fmt.Errorf("consumer %s on %s: %w", c.Durable, c.Stream, err)
		}
		info := cons.CachedInfo()
		s.pending, s.ackPending = float64(info.NumPending), float64(info.NumAckPending)
		return s, nil
	}
	stream, err := l.js.Stream(ctx, c.Stream)
	if err != nil {
		return s, fmt.Errorf("stream %s: %w", c.Stream, err)
	}
	list := stream.ListConsumers(ctx)
	for info := range list.Info() {
		s.pending += float64(info.NumPending)
		s.ackPending += float64(info.NumAckPending)
	}
	if err := list.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
		return s, fmt.Errorf("consumers of %s: %w", c.Stream, err)
	}
	return s, nil
}
