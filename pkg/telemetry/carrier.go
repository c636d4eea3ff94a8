package telemetry

import (
	"context"
	"net/textproto"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
)

// HeaderCarrier adapts NATS message headers to the OpenTelemetry propagator.
// NATS headers are case-sensitive, so keys are written exactly as the W3C
// spec spells them (lower case) and read in either spelling, which lets a
// PBX that sets "traceparent" or "Traceparent" start the trace.
type HeaderCarrier nats.Header

func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	if v := c[textproto.CanonicalMIMEHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectNATS writes ctx's trace context into h.
func InjectNATS(ctx context.Context, h nats.Header) {
	otel.GetTextMapPropagator().Inject(ctx, HeaderCarrier(h))
}

// ExtractNATS returns ctx carrying the trace context found in h, if any.
func ExtractNATS(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, HeaderCarrier(h))
}
