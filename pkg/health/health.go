// Package health serves /healthz (the process is alive) and /readyz (its
// dependencies answer), the probes Kubernetes and `make run` wait on.
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/httpserver"
)

// Check returns nil when the dependency it probes is usable.
type Check func(ctx context.Context) error

// Checks is a named set of readiness checks.
type Checks struct {
	mu     sync.RWMutex
	checks map[string]Check
}

// Add registers a check under name.
func (c *Checks) Add(name string, check Check) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checks == nil {
		c.checks = map[string]Check{}
	}
	c.checks[name] = check
}

// Run runs every check with a short deadline and reports each failure.
func (c *Checks) Run(ctx context.Context) (failures map[string]string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	failures = map[string]string{}
	for name, check := range c.checks {
		if err := check(ctx); err != nil {
			failures[name] = err.Error()
		}
	}
	return failures
}

// LiveHandler answers 200 while the process runs.
func LiveHandler() http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	}
}

// ReadyHandler answers 200 when every check passes and 503 naming the
// failed ones otherwise.
func (c *Checks) ReadyHandler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		failures := c.Run(r.Context())
		if len(failures) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failures": failures})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	}
}

// Mux returns a mux with /healthz and /readyz, for services that have no
// other HTTP surface.
func (c *Checks) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", LiveHandler())
	mux.Handle("GET /readyz", c.ReadyHandler())
	return mux
}

// Serve is the health listener of a service with no other HTTP surface:
// the probes of Mux and, when metrics is not nil, GET /metrics, on addr
// until ctx ends (httpserver's lifecycle, grace to finish).
func (c *Checks) Serve(ctx context.Context, addr string, metrics http.Handler, grace time.Duration) error {
	mux := c.Mux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return httpserver.ListenAndServe(ctx, addr, &http.Server{Handler: mux}, grace)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
