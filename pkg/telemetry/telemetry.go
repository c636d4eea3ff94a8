// Package telemetry sets up structured logging and OpenTelemetry tracing the
// same way in every service, and carries W3C trace context across NATS.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Log attribute keys, shared so the same thing is never spelled two ways.
const (
	KeyAccountID  = "account_id"
	KeyHookID     = "hook_id"
	KeyEventID    = "event_id"
	KeyDeliveryID = "delivery_id"
	KeySubject    = "subject"
	KeyError      = "error"
	KeyService    = "service"
	KeyConsumer   = "consumer"
	// KeyCallID is a PBX channel's id; KeyPBXAddr where a connector
	// attaches to its PBX.
	KeyCallID  = "call_id"
	KeyPBXAddr = "pbx_addr"
	// KeyTraceID and KeySpanID are the W3C ids (hex) of the span a line
	// was logged in; see TraceHandler.
	KeyTraceID = "trace_id"
	KeySpanID  = "span_id"
)

// NewLogger returns a JSON slog logger at the given level ("debug", "info",
// "warn", "error"). Lines logged inside a span (with the ...Context
// methods) carry its trace_id and span_id.
func NewLogger(w io.Writer, service, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	h := TraceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})}
	return slog.New(h).With(KeyService, service), nil
}

// SetupTracing installs a global tracer provider and the W3C propagator.
// Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or the
// traces-specific variable) is set; otherwise spans are still created, so
// trace ids flow through every hop and into logs, but nothing is exported.
// The returned function flushes and stops the provider.
func SetupTracing(ctx context.Context, service string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// FlushTracing runs the shutdown SetupTracing returned, bounded by timeout,
// so spans of the last requests are exported before the process exits. A
// failure is logged: it must not turn a clean exit into an error.
func FlushTracing(shutdown func(context.Context) error, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("flush traces", KeyError, err)
	}
}
