package health

import (
	"context"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/httpserver"
)

// ServeProfiling serves Go's pprof endpoints (/debug/pprof/...) on addr
// until ctx ends, for `make bench` and for diagnosing a live service. An
// empty addr (PPROF_ADDR unset, the default) serves nothing and returns at
// once. It is its own listener so profiles are never exposed on a public
// API port by accident.
func ServeProfiling(ctx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return httpserver.ListenAndServe(ctx, addr, &http.Server{Handler: mux}, 5*time.Second)
}
