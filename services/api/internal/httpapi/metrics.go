package httpapi

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pbxhooks/pbxhooks/pkg/metrics"
)

// unmatchedRoute labels requests no route matched (404s, probes of random
// paths), so a scanner cannot grow the route label.
const unmatchedRoute = "unmatched"

// requestMetrics count the API's requests by route template, never by the
// raw path, which carries account and hook ids.
type requestMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// routes are the registered route templates; anything else is
	// unmatchedRoute.
	routes map[string]bool
}

func newRequestMetrics(reg prometheus.Registerer) (*requestMetrics, error) {
	m := &requestMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "api_requests_total",
			Help: "API requests by method, route template (as /v1/accounts/:account_id/webhooks) and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Name: "api_request_duration_seconds",
			Help:    "Time to answer an API request, by method and route template.",
			Buckets: metrics.DurationBuckets,
		}, []string{"method", "route"}),
		routes: map[string]bool{},
	}
	if err := metrics.Register(reg, m.requests, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

// learnRoutes records the templates Echo serves; called once routes are
// registered.
func (m *requestMetrics) learnRoutes(e *echo.Echo) {
	for _, r := range e.Routes() {
		m.routes[r.Path] = true
	}
}

// countRequests wraps everything after it, so the status it records is the
// one the client got (logRequests, inside it, has already rendered errors).
func (s *Server) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if !s.metrics.routes[route] {
			route = unmatchedRoute
		}
		method := c.Request().Method
		if !isKnownMethod(method) {
			method = "other"
		}
		s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
		s.metrics.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		return err
	}
}

func isKnownMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}
