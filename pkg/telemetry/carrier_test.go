package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// These tests set the global propagator and tracer provider, as services
// do at start-up, so they do not run in parallel with each other.

func setupTracing(t *testing.T) {
	t.Helper()
	shutdown, err := telemetry.SetupTracing(t.Context(), "telemetry-test")
	if err != nil {
		t.Fatalf("SetupTracing: %v", err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
}

func TestInjectExtractRoundTrip(t *testing.T) {
	setupTracing(t)
	ctx, span := otel.Tracer("test").Start(t.Context(), "publish")
	defer span.End()
	want := span.SpanContext()
	if !want.TraceID().IsValid() {
		t.Fatal("tracer produced no trace id")
	}

	h := nats.Header{}
	telemetry.InjectNATS(ctx, h)
	// Written in the W3C spelling: NATS headers are case-sensitive.
	if len(h["traceparent"]) != 1 {
		t.Fatalf("headers after inject = %v, want a lowercase traceparent", h)
	}

	got := trace.SpanContextFromContext(telemetry.ExtractNATS(context.Background(), h))
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Fatalf("extracted %v/%v (remote %t), want %v/%v", got.TraceID(), got.SpanID(), got.IsRemote(), want.TraceID(), want.SpanID())
	}
}

func TestExtractReadsEitherSpelling(t *testing.T) {
	setupTracing(t)
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	wantTrace, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	for _, key := range []string{"traceparent", "Traceparent"} {
		h := nats.Header{key: []string{traceparent}}
		got := trace.SpanContextFromContext(telemetry.ExtractNATS(context.Background(), h))
		if got.TraceID() != wantTrace {
			t.Errorf("header %q: trace id %v, want %v", key, got.TraceID(), wantTrace)
		}
	}
}

func TestExtractWithoutHeaders(t *testing.T) {
	setupTracing(t)
	ctx := telemetry.ExtractNATS(t.Context(), nil)
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("nil headers produced a span context")
	}
	ctx = telemetry.ExtractNATS(t.Context(), nats.Header{"traceparent": []string{"garbage"}})
	if trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("a malformed traceparent produced a span context")
	}
}

func TestHeaderCarrier(t *testing.T) {
	c := telemetry.HeaderCarrier(nats.Header{})
	if got := c.Get("traceparent"); got != "" {
		t.Errorf("Get on empty carrier = %q", got)
	}
	c.Set("traceparent", "a")
	c.Set("tracestate", "b")
	keys := c.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"traceparent", "tracestate"}) {
		t.Errorf("Keys = %v", keys)
	}
	// The carrier works with any TextMapPropagator, not only the global one.
	var _ propagation.TextMapCarrier = c
}

func TestNewLogger(t *testing.T) {
	if _, err := telemetry.NewLogger(&bytes.Buffer{}, "svc", "loud"); err == nil {
		t.Error("unknown level accepted")
	}
	var buf bytes.Buffer
	log, err := telemetry.NewLogger(&buf, "ingest", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.Warn("kept", telemetry.KeyAccountID, "acct1")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("want exactly one JSON line, got %q: %v", buf.String(), err)
	}
	if line[telemetry.KeyService] != "ingest" || line["msg"] != "kept" || line[telemetry.KeyAccountID] != "acct1" {
		t.Errorf("log line = %v", line)
	}
}
