// Package publish stores canonical events on the EVENTS stream.
package publish

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ingestmetrics"
)

var tracer = otel.Tracer("github.com/pbxhooks/pbxhooks/services/ingest/internal/publish")

// Publisher stores events on EVENTS.
type Publisher struct {
	js      jetstream.JetStream
	metrics *ingestmetrics.Metrics
}

// New returns a Publisher over js that counts each event's result in m
// (stored, duplicate or failed); m may be nil.
func New(js jetstream.JetStream, m *ingestmetrics.Metrics) *Publisher {
	return &Publisher{js: js, metrics: m}
}

// Publish stores ev and returns only once JetStream has acknowledged it, so a
// nil error means the event is durable. The Nats-Msg-Id is account/event id:
// a second publish of the same event within bus.DedupeWindow is acknowledged
// as a duplicate and counts as success, which makes Publish safe to retry.
// ctx bounds the wait for the acknowledgement.
func (p *Publisher) Publish(ctx context.Context, ev *pbxhooksv1.Event) error {
	_, err := p.Store(ctx, ev)
	return err
}

// Store is Publish that also reports whether JetStream already held the
// event (a duplicate within bus.DedupeWindow), for callers that must undo
// side effects of a resent request.
func (p *Publisher) Store(ctx context.Context, ev *pbxhooksv1.Event) (duplicate bool, err error) {
	subject, err := bus.EventSubject(ev)
	if err != nil {
		return false, err
	}
	ctx, span := tracer.Start(ctx, "events publish",
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(telemetry.MessagingSystemNATS, telemetry.MessagingOperationPublish,
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", ev.GetId()),
		))
	defer span.End()

	msg, err := bus.EventMsg(ctx, subject, ev)
	if err != nil {
		return false, err
	}
	ack, err := bus.PublishEvent(ctx, p.js, msg)
	if err != nil {
		span.RecordError(err)
		p.metrics.Event(ev.GetSource(), ingestmetrics.ResultFailed)
		return false, fmt.Errorf("publish event %s on %s: %w", ev.GetId(), subject, err)
	}
	span.SetAttributes(attribute.Bool("messaging.nats.duplicate", ack.Duplicate))
	if ack.Duplicate {
		p.metrics.Event(ev.GetSource(), ingestmetrics.ResultDuplicate)
	} else {
		p.metrics.Event(ev.GetSource(), ingestmetrics.ResultStored)
	}
	return ack.Duplicate, nil
}
