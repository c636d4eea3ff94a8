package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Every line a service logs inside a span carries the span's trace_id and
// span_id (the JSON field names are what log search is configured with);
// lines outside a span carry neither.
func TestLogLinesInsideASpanCarryItsIDs(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	log, err := telemetry.NewLogger(&out, "test", "debug")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("test").Start(t.Context(), "work")
	sc := span.SpanContext()

	log.InfoContext(ctx, "inside")
	log.With(telemetry.KeyAccountID, "acct1").WarnContext(ctx, "inside, derived logger")
	log.WithGroup("g").ErrorContext(ctx, "inside, grouped logger")
	span.End()
	log.InfoContext(t.Context(), "outside")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4:\n%s", len(lines), out.String())
	}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, line)
		}
		if g, ok := rec["g"].(map[string]any); ok {
			rec = g
		}
		if rec["msg"] == "outside" {
			if _, ok := rec["trace_id"]; ok {
				t.Errorf("line outside a span has a trace_id: %s", line)
			}
			continue
		}
		if rec["trace_id"] != sc.TraceID().String() || rec["span_id"] != sc.SpanID().String() {
			t.Errorf("line %d: trace_id %v span_id %v, want %s %s: %s", i, rec["trace_id"], rec["span_id"], sc.TraceID(), sc.SpanID(), line)
		}
	}
}
