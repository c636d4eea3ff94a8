// Package metrics gives every service the same Prometheus plumbing: a
// registry of its own (no global default registry, so tests and several
// services in one process never share counters), the /metrics handler, and
// the gauges of JetStream consumer lag. Each service's own metrics are
// declared beside the code that moves them.
//
// Naming follows Prometheus conventions: the pbxhooks_ prefix, _total on
// counters, base units (_seconds), and labels with a fixed set of values:
// never an account, hook, endpoint or URL, whose number has no bound.
package metrics

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every pbxhooks metric.
const Namespace = "pbxhooks"

// NewRegistry returns a registry holding the Go runtime and process
// collectors, to which the service adds its own metrics.
func NewRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	if err := Register(reg,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	); err != nil {
		return nil, err
	}
	return reg, nil
}

// Register adds every collector to reg, reporting the first that clashes
// with one already there (two metrics of one name, or a name twice).
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, fmt.Errorf("register metrics: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Handler serves reg in the Prometheus text format (or OpenMetrics when the
// scraper asks). A collector that fails does not hide the others: what
// could be gathered is served.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:          reg,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// DurationBuckets are the histogram buckets, in seconds, of every pbxhooks
// duration: from a millisecond (an API read, a local callback) to a minute
// (a slow endpoint's timeout, a redelivered event).
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
