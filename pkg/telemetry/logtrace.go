package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// TraceHandler adds the trace and span ids of the span in a record's
// context (KeyTraceID, KeySpanID) to every record logged with one, so a log
// line leads to its trace and a trace to its log lines. It relies on the
// ...Context logging methods: a record logged without the span's context
// carries no ids. A record with no span in its context passes unchanged.
type TraceHandler struct {
	slog.Handler
}

// Handle adds the ids, then passes the record on.
func (h TraceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String(KeyTraceID, sc.TraceID().String()), slog.String(KeySpanID, sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the ids on loggers made with With.
func (h TraceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return TraceHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the ids on loggers made with WithGroup (inside the
// group, as every attribute of such a logger is).
func (h TraceHandler) WithGroup(name string) slog.Handler {
	return TraceHandler{h.Handler.WithGroup(name)}
}
