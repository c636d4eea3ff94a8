// Package httpapi is the pbxhooks REST API: Kazoo-compatible webhook
// management under /v1, served by Echo. Every response uses Kazoo's
// envelope; every error, including Echo's own 404, 405 and 413, is
// translated in one place (handleError) into Kazoo's error shape.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// MinAdminTokenLength keeps the admin token out of brute-force reach.
const MinAdminTokenLength = 16

// Deps is what the API needs from the process.
type Deps struct {
	Pool *pgxpool.Pool
	// NATS carries hooks.changed.<account_id> notifications (core NATS).
	NATS   *nats.Conn
	Logger *slog.Logger
	// AdminToken may act on every account and create accounts.
	AdminToken string
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int64
}

// Server is the API's HTTP surface.
type Server struct {
	echo    *echo.Echo
	pool    *pgxpool.Pool
	queries *store.Queries
	nc      *nats.Conn
	log     *slog.Logger
	admin   adminToken
	maxBody int64
}

// New builds the server and its routes.
func New(deps Deps) (*Server, error) {
	switch {
	case deps.Pool == nil:
		return nil, errors.New("httpapi: Deps.Pool is required")
	case deps.NATS == nil:
		return nil, errors.New("httpapi: Deps.NATS is required")
	case deps.Logger == nil:
		return nil, errors.New("httpapi: Deps.Logger is required")
	case len(deps.AdminToken) < MinAdminTokenLength:
		return nil, fmt.Errorf("httpapi: the admin token must be at least %d characters", MinAdminTokenLength)
	case deps.MaxBodyBytes < 1:
		return nil, errors.New("httpapi: Deps.MaxBodyBytes must be positive")
	}
	s := &Server{
		echo:    echo.New(),
		pool:    deps.Pool,
		queries: store.New(deps.Pool),
		nc:      deps.NATS,
		log:     deps.Logger,
		admin:   newAdminToken(deps.AdminToken),
		maxBody: deps.MaxBodyBytes,
	}
	e := s.echo
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	e.Server.ReadHeaderTimeout = 10 * time.Second
	e.Server.ReadTimeout = 30 * time.Second
	e.Server.WriteTimeout = 30 * time.Second
	e.Server.IdleTimeout = 2 * time.Minute
	e.Server.MaxHeaderBytes = 64 << 10

	e.Pre(middleware.RemoveTrailingSlash())
	e.Use(assignRequestID, s.logRequests, recoverPanics, propagateTrace,
		middleware.BodyLimit(fmt.Sprintf("%dB", deps.MaxBodyBytes)))
	s.routes()
	return s, nil
}

// routes registers every route. Middleware is attached per route rather
// than with Group.Use, because Echo's groups add catch-all routes that turn
// a 405 into a 404.
//
// Echo's router prefers a static segment to a parameter, so
// /webhooks/attempts is never captured by /webhooks/:webhook_id.
func (s *Server) routes() {
	e := s.echo
	checks := &health.Checks{}
	checks.Add("postgres", s.pool.Ping)
	checks.Add("nats", func(context.Context) error {
		if status := s.nc.Status(); status != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", status)
		}
		return nil
	})
	e.GET("/healthz", echo.WrapHandler(health.LiveHandler()))
	e.GET("/readyz", echo.WrapHandler(checks.ReadyHandler()))

	// anyAccount: the account may be new (the admin creates it with its
	// first hook). existingAccount: it must exist, else 404.
	anyAccount := []echo.MiddlewareFunc{s.authenticate, s.authorizeAccount}
	existingAccount := append(anyAccount[:len(anyAccount):len(anyAccount)], s.requireAccount)

	const webhooks = "/v1/accounts/:account_id/webhooks"
	e.GET(webhooks, s.listHooks, existingAccount...)
	e.PUT(webhooks, s.createHook, anyAccount...)
	e.GET(webhooks+"/attempts", s.listAccountAttempts, existingAccount...)
	e.GET(webhooks+"/:webhook_id", s.getHook, existingAccount...)
	e.GET(webhooks+"/:webhook_id/attempts", s.listHookAttempts, existingAccount...)
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Run serves on addr until ctx ends, then stops accepting connections and
// lets in-flight requests finish within grace (Echo's Shutdown).
func (s *Server) Run(ctx context.Context, addr string, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.echo.Listener = ln
	s.log.InfoContext(ctx, "API listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.echo.Start(addr) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve API on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := s.echo.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down API: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve API on %s: %w", addr, err)
	}
	s.log.InfoContext(ctx, "API stopped")
	return nil
}
