// Package httpserver is the one lifecycle of every pbxhooks HTTP listener
// (the API, ingest's intake, each service's health and profiling ports):
// listen, serve until the context ends, then shut down gracefully within a
// grace period so in-flight requests are answered.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// DefaultReadHeaderTimeout bounds how long a client may take to send its
// request headers when the server sets no ReadHeaderTimeout of its own
// (Slowloris).
const DefaultReadHeaderTimeout = 10 * time.Second

// Listen opens addr for Serve; the error names the address.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// ListenAndServe is Listen followed by Serve.
func ListenAndServe(ctx context.Context, addr string, srv *http.Server, grace time.Duration) error {
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	return Serve(ctx, ln, srv, grace)
}

// Serve serves srv on ln until ctx ends, then stops accepting connections
// and lets in-flight requests finish within grace. It returns nil after a
// clean shutdown, and an error naming the address when serving fails or the
// grace period runs out with requests still in flight. ln is closed either
// way. A zero srv.ReadHeaderTimeout becomes DefaultReadHeaderTimeout.
func Serve(ctx context.Context, ln net.Listener, srv *http.Server, grace time.Duration) error {
	addr := ln.Addr().String()
	if srv.ReadHeaderTimeout == 0 {
		srv.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down %s: %w", addr, err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", addr, err)
	}
	return nil
}
