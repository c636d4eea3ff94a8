// Package httpapi is the pbxhooks REST API: Kazoo-compatible webhook
// management under /v1, served by Echo. Every response uses Kazoo's
// envelope; every error, including Echo's own 404, 405 and 413 and
// http.ServeContent's 412 and 416, is translated in one place (handleError)
// into Kazoo's error shape (httperror.Body). What net/http answers before
// any handler runs (431, 400) gets the same shape from httperror.Listener.
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/httperror"
	"github.com/pbxhooks/pbxhooks/pkg/httpserver"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/pkg/netguard"
	"github.com/pbxhooks/pbxhooks/pkg/scenario"
	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// Deps is what the API needs from the process.
type Deps struct {
	Pool *pgxpool.Pool
	// NATS carries the JetStream traffic: hook-change notices, test events.
	NATS   *nats.Conn
	Logger *slog.Logger
	// AdminToken may act on every account and create accounts.
	AdminToken string
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int64

	// The rest is optional; the zero value takes the default named.

	// JetStream publishes test events and reads dead letters; by default
	// a JetStream context over NATS.
	JetStream jetstream.JetStream
	// SecretRotationOverlap is how long a rotated-out signing secret keeps
	// signing beside the new one (DefaultSecretRotationOverlap).
	SecretRotationOverlap time.Duration
	// TestWait bounds how long POST .../test waits for the test delivery's
	// attempt before answering 202 (DefaultTestWait).
	TestWait time.Duration
	// RateLimit and RateBurst are each token's request rate and burst
	// (DefaultRateLimit, DefaultRateBurst).
	RateLimit rate.Limit
	RateBurst int
	// Media verifies signed media download links (see media.go).
	Media MediaDeps
	// Destinations refuses hook URLs whose host is a literal address (or
	// localhost) in a range the deliverer would refuse to dial; its Allow
	// list is DELIVERY_ALLOW_CIDRS, the same as the deliverer's.
	Destinations netguard.Guard
	// Tokens finds account tokens; by default the api_tokens table over
	// Pool. The API keeps no cache of them: a revocation takes effect on
	// the next request.
	Tokens credential.TokenStore
	// AuthFailureBurst and AuthFailureInterval shape the throttle on failed
	// authentications per client address (credential.DefaultFailureBurst,
	// credential.DefaultFailureInterval).
	AuthFailureBurst    int
	AuthFailureInterval time.Duration
	// TrustedProxies are the peers (a load balancer, an ingress) whose
	// X-Forwarded-For names the client address the throttle counts.
	TrustedProxies []netip.Prefix
	// Metrics is the process's registry: the API adds its request metrics
	// and serves it at GET /metrics (a registry of its own when nil).
	Metrics *prometheus.Registry
	// RelayLease is how long a relay hook outlives its replica's last
	// renewal (DefaultRelayLease).
	RelayLease time.Duration
	// StreamHeartbeat is how often an idle live stream sends a heartbeat
	// (DefaultStreamHeartbeat).
	StreamHeartbeat time.Duration
	// IngestURL is ingest's base URL, where POST .../simulate sends its
	// test calls with the admin token (DefaultIngestURL).
	IngestURL string
}

// Defaults of the optional Deps.
const (
	DefaultSecretRotationOverlap = 24 * time.Hour
	DefaultTestWait              = 20 * time.Second
	DefaultRateLimit             = 50
	DefaultRateBurst             = 100
	DefaultIngestURL             = "http://127.0.0.1:8081"
)

// Server is the API's HTTP surface.
type Server struct {
	echo    *echo.Echo
	pool    *pgxpool.Pool
	queries *store.Queries
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	auth    *credential.Authenticator
	maxBody int64
	overlap time.Duration
	// testWait and testPoll pace POST .../test's wait for its attempt.
	testWait time.Duration
	testPoll time.Duration
	limiter  *tokenLimiter
	media    MediaDeps
	dests    netguard.Guard
	metrics  *requestMetrics
	// relayCtx ends the open relay connections when Run stops; relays
	// counts them, so Run waits until each deleted its relay hook.
	relayCtx   context.Context
	relayStop  context.CancelFunc
	relays     sync.WaitGroup
	relayLease time.Duration
	// streams counts open live streams; closing ends them at shutdown,
	// which would otherwise wait for every client to leave.
	streams         streamCounter
	streamHeartbeat time.Duration
	closing         chan struct{}
	closeOnce       sync.Once
	// ingest receives the test calls of POST .../simulate.
	ingest scenario.Ingest
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
	case deps.MaxBodyBytes < 1:
		return nil, errors.New("httpapi: Deps.MaxBodyBytes must be positive")
	case deps.SecretRotationOverlap < 0, deps.TestWait < 0, deps.RateLimit < 0, deps.RateBurst < 0, deps.RelayLease < 0, deps.StreamHeartbeat < 0:
		return nil, errors.New("httpapi: Deps durations and rates must not be negative")
	}
	admin, err := credential.NewAdminToken(deps.AdminToken)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	tokens := deps.Tokens
	if tokens == nil {
		tokens = credential.NewPostgresTokens(deps.Pool)
	}
	auth, err := credential.NewAuthenticator(credential.Options{
		Admin: admin, Tokens: tokens,
		FailureBurst: deps.AuthFailureBurst, FailureInterval: deps.AuthFailureInterval,
		TrustedProxies: deps.TrustedProxies,
	})
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	js := deps.JetStream
	if js == nil {
		if js, err = jetstream.New(deps.NATS); err != nil {
			return nil, fmt.Errorf("httpapi: JetStream context: %w", err)
		}
	}
	s := &Server{
		echo:     echo.New(),
		pool:     deps.Pool,
		queries:  store.New(deps.Pool),
		nc:       deps.NATS,
		js:       js,
		log:      deps.Logger,
		auth:     auth,
		maxBody:  deps.MaxBodyBytes,
		overlap:  cmp.Or(deps.SecretRotationOverlap, DefaultSecretRotationOverlap),
		testWait: cmp.Or(deps.TestWait, DefaultTestWait),
		testPoll: 200 * time.Millisecond,
		limiter:  newTokenLimiter(cmp.Or(deps.RateLimit, DefaultRateLimit), cmp.Or(deps.RateBurst, DefaultRateBurst)),
		media:    deps.Media,
		dests:    deps.Destinations,

		relayLease:      cmp.Or(deps.RelayLease, DefaultRelayLease),
		streamHeartbeat: cmp.Or(deps.StreamHeartbeat, DefaultStreamHeartbeat),
		closing:         make(chan struct{}),
		ingest: scenario.Ingest{
			BaseURL: cmp.Or(deps.IngestURL, DefaultIngestURL), Token: deps.AdminToken,
			Client: &http.Client{Timeout: simulateTimeout},
		},
	}
	s.relayCtx, s.relayStop = context.WithCancel(context.Background())
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newRequestMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s.metrics = m
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
	e.Use(assignRequestID, s.countRequests, s.logRequests, recoverPanics, propagateTrace,
		middleware.BodyLimit(fmt.Sprintf("%dB", deps.MaxBodyBytes)))
	s.routes()
	e.GET("/metrics", echo.WrapHandler(metrics.Handler(reg)))
	s.metrics.learnRoutes(e)
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
	checks.Add("nats", bus.ConnectionReady(s.nc))
	e.GET("/healthz", echo.WrapHandler(health.LiveHandler()))
	e.GET("/readyz", echo.WrapHandler(checks.ReadyHandler()))

	// Public: static documents, no token needed (see hookCatalogue).
	e.GET("/openapi.json", s.openAPIDocument)
	e.GET("/v1/webhooks", s.hookCatalogue)
	e.GET("/v1/media/:media_id", s.downloadMedia) // signed link is the credential (media.go)

	// Every route under /v1/accounts/{account_id} authenticates (401),
	// rate-limits per token (429), then lets an account token act on its
	// own account only (403). anyAccount: the account may be new (the
	// admin creates it with its first hook or token). existingAccount: it
	// must exist, else 404. The admin variants answer 403 to account
	// tokens: only the admin manages tokens.
	anyAccount := []echo.MiddlewareFunc{s.authenticate, s.rateLimit, s.authorizeAccount}
	existingAccount := append(slices.Clip(anyAccount), s.requireAccount)
	adminAnyAccount := append(slices.Clip(anyAccount), requireAdmin)
	adminExistingAccount := append(slices.Clip(adminAnyAccount), s.requireAccount)

	const webhooks = "/v1/accounts/:account_id/webhooks"
	e.GET(webhooks, s.listHooks, existingAccount...)
	e.PUT(webhooks, s.createHook, anyAccount...)
	e.PATCH(webhooks, s.reenableHooks, existingAccount...)
	e.GET(webhooks+"/attempts", s.listAccountAttempts, existingAccount...)
	e.GET(webhooks+"/:webhook_id", s.getHook, existingAccount...)
	e.POST(webhooks+"/:webhook_id", s.replaceHook, existingAccount...)
	e.PATCH(webhooks+"/:webhook_id", s.patchHook, existingAccount...)
	e.DELETE(webhooks+"/:webhook_id", s.deleteHook, existingAccount...)
	e.GET(webhooks+"/:webhook_id/attempts", s.listHookAttempts, existingAccount...)
	e.GET(webhooks+"/:webhook_id/secret", s.revealSecret, existingAccount...)
	e.POST(webhooks+"/:webhook_id/secret", s.rotateSecret, existingAccount...)
	e.POST(webhooks+"/:webhook_id/test", s.testHook, existingAccount...)
	e.POST(webhooks+"/:webhook_id/recover", s.recoverHook, existingAccount...)
	e.POST("/v1/accounts/:account_id/deliveries/:delivery_id/resend", s.resendDelivery, existingAccount...)

	const tokens = "/v1/accounts/:account_id/tokens"
	e.GET(tokens, s.listTokens, adminExistingAccount...)
	e.PUT(tokens, s.createToken, adminAnyAccount...)
	e.DELETE(tokens+"/:token_id", s.revokeToken, adminExistingAccount...)

	e.GET("/v1/accounts/:account_id/events/deadletter", s.listDeadLetters, existingAccount...)
	e.GET("/v1/accounts/:account_id/events", s.searchEvents, existingAccount...)
	e.GET("/v1/accounts/:account_id/calls/:call_id/timeline", s.callTimeline, existingAccount...)
	e.GET("/v1/accounts/:account_id/stream", s.streamEvents, existingAccount...)
	e.POST(webhooks+"/preview", s.previewHook, existingAccount...)
	e.POST("/v1/accounts/:account_id/simulate", s.simulateCall, existingAccount...)

	const deliverySettings = "/v1/accounts/:account_id/delivery_settings"
	e.GET(deliverySettings, s.getDeliverySettings, existingAccount...)
	e.PATCH(deliverySettings, s.patchDeliverySettings, existingAccount...)

	e.GET("/v1/accounts/:account_id/relay", s.relayHook, existingAccount...)
}

// Route is one served method and path, the path in OpenAPI's form
// (/v1/accounts/{account_id}/webhooks).
type Route struct {
	Method string
	Path   string
}

// Routes lists what the server serves, for the test that holds the OpenAPI
// document and the router to each other.
func (s *Server) Routes() []Route {
	var out []Route
	for _, r := range s.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		out = append(out, Route{Method: r.Method, Path: echoParam.ReplaceAllString(r.Path, "{$1}")})
	}
	return out
}

// echoParam matches Echo's ":name" path parameters.
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// Mount serves h at path and everything under it, behind the API's request
// middleware (request ids, logs, metrics, body limit); the console is
// mounted this way. Call it before serving: it adds routes.
func (s *Server) Mount(path string, h http.Handler) {
	s.echo.Any(path, echo.WrapHandler(h))
	s.echo.Any(path+"/*", echo.WrapHandler(h))
	s.metrics.learnRoutes(s.echo)
}

// Authenticate checks a request's credential exactly as every API route
// does (pkg/credential, with the failed-authentication throttle).
func (s *Server) Authenticate(r *http.Request) (credential.Principal, error) {
	return s.auth.Authenticate(r.Context(), r)
}

// CloseStreams ends every open live stream (each sends a "close" event);
// Run's shutdown calls it, since open streams would hold the shutdown for
// its whole grace period.
func (s *Server) CloseStreams() { s.closeOnce.Do(func() { close(s.closing) }) }

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Run serves on addr until ctx ends, then stops accepting connections and
// lets in-flight requests finish within grace (httpserver's lifecycle).
func (s *Server) Run(ctx context.Context, addr string, grace time.Duration) error {
	ln, err := httpserver.Listen(addr)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "API listening", "addr", ln.Addr().String())
	srv := s.echo.Server
	srv.Handler = s.echo
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	// net/http answers some requests itself, before any handler (headers
	// over MaxHeaderBytes: 431; a malformed request: 400); the listener
	// gives those answers the API's error envelope too.
	// Open live streams would hold the shutdown for its whole grace:
	// Shutdown ends them first (each sends a "close" event).
	srv.RegisterOnShutdown(s.CloseStreams)
	// Shutdown does not wait for hijacked connections (the relays): it
	// tells them to end, and Run waits (within grace) until each deleted
	// its relay hook; else its lease runs out and another replica sweeps it.
	srv.RegisterOnShutdown(s.relayStop)
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go s.sweepRelays(sweepCtx)
	err = httpserver.Serve(ctx, httperror.Listener(ln), srv, grace)
	s.relayStop()
	relaysDone := make(chan struct{})
	go func() { s.relays.Wait(); close(relaysDone) }()
	select {
	case <-relaysDone:
	case <-time.After(grace):
	}
	if err != nil {
		return fmt.Errorf("API: %w", err)
	}
	s.log.InfoContext(ctx, "API stopped")
	return nil
}
