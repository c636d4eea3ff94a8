// Package httpapi is ingest's HTTP intake: PBXs POST events, which are
// answered 202 only once JetStream has stored them, plus the health probes.
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/httperror"
	"github.com/pbxhooks/pbxhooks/pkg/httpserver"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/accept"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
)

// maxHeaderBytes bounds a request's headers; larger ones are answered 431.
const maxHeaderBytes = 64 << 10

// Limits bound what one request may ask of ingest.
type Limits struct {
	// MaxEventBytes bounds one event; a batch may be MaxBatchEvents times
	// that.
	MaxEventBytes  int
	MaxBatchEvents int
	// PublishTimeout bounds the wait for JetStream's acknowledgement before
	// the caller is told 503 and to retry.
	PublishTimeout time.Duration
	// BodyIdleTimeout answers 408 to a body that sends nothing for that
	// long; MinBodyRate (bytes per second) sets the whole body's deadline
	// from its declared (or largest allowed) size. Zero means the default.
	BodyIdleTimeout time.Duration
	MinBodyRate     int64
	// MaxInflightBytes bounds the request bytes held in memory at once,
	// across requests; beyond, requests are answered 503 with Retry-After.
	// Zero means the default.
	MaxInflightBytes int64
}

// Deps are what the HTTP intake needs.
type Deps struct {
	Log *slog.Logger
	NC  *nats.Conn
	JS  jetstream.JetStream
	// Publisher stores the events of media uploads.
	Publisher *publish.Publisher
	// Pipeline parses, stores and dead-letters the events of the intake
	// routes, as it does for the NATS consumer.
	Pipeline *accept.Pipeline
	// Adapters each add one intake route.
	Adapters []adapter.Adapter
	Limits   Limits
	// Media stores uploaded files and checks media events' files.
	Media *media.Store
	// Auth authenticates every intake and upload request (auth.go).
	Auth *credential.Authenticator
	// MetricsHandler, when set, serves GET /metrics beside the probes.
	MetricsHandler http.Handler
}

// Server serves the intake routes and probes.
type Server struct {
	log      *slog.Logger
	js       jetstream.JetStream
	pub      *publish.Publisher
	pipeline *accept.Pipeline
	limits   Limits
	media    *media.Store
	auth     *credential.Authenticator
	ready    *health.Checks
	// inflight bounds the request bytes held in memory across requests.
	inflight *inflightBytes
	handler  http.Handler
}

// New validates deps and builds the routes.
func New(deps Deps) (*Server, error) {
	if deps.Log == nil || deps.NC == nil || deps.JS == nil || deps.Publisher == nil || deps.Pipeline == nil || deps.Media == nil || deps.Auth == nil {
		return nil, errors.New("httpapi: Log, NC, JS, Publisher, Pipeline, Media and Auth are required")
	}
	l := deps.Limits
	if l.MaxEventBytes <= 0 || l.MaxBatchEvents <= 0 || l.PublishTimeout <= 0 {
		return nil, fmt.Errorf("httpapi: limits must be positive: %+v", l)
	}
	l.BodyIdleTimeout = cmp.Or(l.BodyIdleTimeout, DefaultBodyIdleTimeout)
	l.MinBodyRate = cmp.Or(l.MinBodyRate, DefaultMinBodyRate)
	l.MaxInflightBytes = cmp.Or(l.MaxInflightBytes, DefaultMaxInflightBytes)
	if l.BodyIdleTimeout < 0 || l.MinBodyRate < 0 || l.MaxInflightBytes < 0 {
		return nil, fmt.Errorf("httpapi: limits must be positive: %+v", l)
	}
	s := &Server{log: deps.Log, js: deps.JS, pub: deps.Publisher, pipeline: deps.Pipeline, limits: l, media: deps.Media, auth: deps.Auth,
		inflight: newInflightBytes(l.MaxInflightBytes)}

	ready := &health.Checks{}
	s.ready = ready
	ready.Add("nats", bus.ConnectionReady(deps.NC))
	ready.Add("jetstream", func(ctx context.Context) error {
		if _, err := deps.JS.AccountInfo(ctx); err != nil {
			return fmt.Errorf("JetStream does not answer: %w", err)
		}
		return nil
	})

	mux := http.NewServeMux()
	mux.Handle("GET /healthz", health.LiveHandler())
	mux.Handle("GET /readyz", ready.ReadyHandler())
	if deps.MetricsHandler != nil {
		mux.Handle("GET /metrics", deps.MetricsHandler)
	}
	for _, a := range deps.Adapters {
		if a.Path == "" {
			// NATS only (AMI: its text messages are no JSON body).
			continue
		}
		// No method in the pattern: other methods get a Kazoo-style 405
		// from the handler instead of the mux's plain-text one.
		mux.Handle(a.Path, s.route(http.MethodPost, s.authorized(s.intake(a))))
	}
	mux.Handle(mediaPath, s.route(http.MethodPost, s.authorized(s.uploadMedia)))
	mux.Handle("/", s.route("", func(http.ResponseWriter, *http.Request) error {
		return &apiError{status: http.StatusNotFound, message: "no such route"}
	}))
	s.handler = s.recoverPanics(mux)
	return s, nil
}

// AddReadyCheck adds a /readyz check of another part of ingest (its PBX
// consumer).
func (s *Server) AddReadyCheck(name string, check health.Check) { s.ready.Add(name, check) }

// Handler returns the routes, for tests and for Run.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves on addr until ctx is cancelled; see Serve.
func (s *Server) Run(ctx context.Context, addr string, grace time.Duration) error {
	ln, err := httpserver.Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln, grace)
}

// Serve serves on ln until ctx is cancelled, then stops accepting requests,
// lets in-flight ones finish (each either stored its events or answers an
// error) within grace, and returns (httpserver's lifecycle). Even the errors
// net/http answers before a handler runs (oversized headers, malformed
// requests) are in the error envelope.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		// For routes that read no body; the intake routes move both
		// deadlines by their body's size (see boundBody).
		ReadTimeout:  30 * time.Second,
		WriteTimeout: writeWindow(s.limits),
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.InfoContext(ctx, "HTTP intake listening", "addr", ln.Addr().String())
	if err := httpserver.Serve(ctx, httperror.Listener(ln), srv, grace); err != nil {
		return fmt.Errorf("HTTP intake: %w", err)
	}
	return nil
}

type handlerFunc func(http.ResponseWriter, *http.Request) error

// route checks the method (when given) and renders a returned error.
func (s *Server) route(method string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The whole request, its error answer included, runs in one span
		// that continues the caller's traceparent, so every line it logs
		// carries the trace.
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.Pattern, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.HTTPRoute(r.Pattern)))
		defer span.End()
		r = r.WithContext(ctx)
		if method != "" && r.Method != method {
			w.Header().Set("Allow", method)
			s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, message: "method not allowed; use " + method})
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// recoverPanics turns a bug into a 500 for one request instead of a dropped
// connection and a lost stack.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
