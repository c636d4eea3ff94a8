package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// ErrUnroutable marks an event whose fields do not make a valid EVENTS
// subject. Producers validate before publishing, so it means a bug;
// retrying cannot help.
var ErrUnroutable = errors.New("event cannot be routed to an EVENTS subject")

// EventSubject returns the EVENTS subject ev is stored under (see
// CallEventSubject and MediaEventSubject); the error wraps ErrUnroutable.
func EventSubject(ev *pbxhooksv1.Event) (string, error) {
	var (
		subject string
		err     error
	)
	switch ev.GetKind() {
	case event.KindCall:
		subject, err = CallEventSubject(ev.GetAccountId(), ev.GetCallType(), ev.GetStatus())
	case event.KindMedia:
		subject, err = MediaEventSubject(ev.GetAccountId(), ev.GetMedia().GetType())
	default:
		err = fmt.Errorf("unknown kind %q", ev.GetKind())
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnroutable, err)
	}
	if ev.GetId() == "" {
		return "", fmt.Errorf("%w: event has no id", ErrUnroutable)
	}
	return subject, nil
}

// EventMsg is the JetStream message that stores ev on EVENTS under subject
// (EventSubject's): the protobuf body, EventMsgID as Nats-Msg-Id, and ctx's
// trace context. Callers add their own headers before PublishEvent.
func EventMsg(ctx context.Context, subject string, ev *pbxhooksv1.Event) (*nats.Msg, error) {
	data, err := proto.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("marshal event %s: %w", ev.GetId(), err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(HeaderMsgID, EventMsgID(ev.GetAccountId(), ev.GetId()))
	telemetry.InjectNATS(ctx, msg.Header)
	return msg, nil
}

// PublishEvent stores msg (from EventMsg) on EVENTS and returns only once
// JetStream has acknowledged it, so a nil error means the event is durable.
// A second publish of the same event within DedupeWindow is acknowledged
// with PubAck.Duplicate set, which makes it safe to retry. ctx bounds the
// wait for the acknowledgement. The error is JetStream's, for the caller
// to wrap with what it was publishing.
func PublishEvent(ctx context.Context, js jetstream.JetStream, msg *nats.Msg) (*jetstream.PubAck, error) {
	return js.PublishMsg(ctx, msg, jetstream.WithExpectStream(StreamEvents))
}
