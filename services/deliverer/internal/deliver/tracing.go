package deliver

import (
	"net/http"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver")

// startClientSpan starts the HTTP client span of one callback (OpenTelemetry
// HTTP client conventions) and writes its traceparent into req, so the
// receiver can continue the trace the PBX started. It is written here
// rather than with otelhttp's transport because url.full must leave out the
// query string: a GET hook's payload (callers' numbers) travels there and
// does not belong in traces.
func startClientSpan(req *http.Request) (*http.Request, trace.Span) {
	u := req.URL
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	portNum, _ := strconv.Atoi(port)
	full := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	ctx, span := tracer.Start(req.Context(), req.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(req.Method),
			semconv.ServerAddress(u.Hostname()),
			semconv.ServerPort(portNum),
			semconv.URLFull(full.String()),
		))
	req = req.WithContext(ctx)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	return req, span
}

// endClientSpan records the answer (status 0: none) or the transport error
// and ends the span. A 4xx or 5xx marks the span failed, as the client
// conventions ask.
func endClientSpan(span trace.Span, status int, errorType string, err error) {
	if status > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if errorType != "" {
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
	}
	if err != nil {
		span.RecordError(err)
	}
	if err != nil || status >= 400 {
		span.SetStatus(codes.Error, errorType)
	}
	span.End()
}
