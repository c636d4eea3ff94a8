package eventindex

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// MaxPayloadBytes bounds the canonical JSON kept per event for timelines.
// A larger event (a PBX that sends many custom channel variables) is still
// indexed by its fields, without its payload.
const MaxPayloadBytes = 16 << 10

// Row is one event as events_index stores it. Fields an event lacks are
// empty strings.
type Row struct {
	AccountID, EventID, Kind, Lifecycle, CallType, Status string
	MediaType, MediaID                                    string
	IsInternalLeg                                         bool
	CallID, ThreadID, FromNumber, ToNumber, Direction     string
	Source, TestHookID                                    string
	OccurredAt, ReceivedAt                                time.Time
	// Payload is the event as protojson, nil when over MaxPayloadBytes.
	Payload []byte
}

// RowFromMessage decodes one EVENTS message into its index row. stored is
// the message's stream time, used when the event carries no valid receive
// time, so a redelivery yields the same row (and the same key) every time.
func RowFromMessage(subject string, data []byte, testHookID string, stored time.Time) (Row, error) {
	var ev pbxhooksv1.Event
	if err := proto.Unmarshal(data, &ev); err != nil {
		return Row{}, fmt.Errorf("decode event on %s: %w", subject, err)
	}
	want, err := bus.EventSubject(&ev)
	if err != nil {
		return Row{}, err
	}
	if want != subject {
		// The subject is the tenant boundary the live stream and NATS
		// permissions rely on; an event filed under another account's
		// subject is not indexed under either.
		return Row{}, fmt.Errorf("event %.64q of account %q arrived on %s, not %s", ev.GetId(), ev.GetAccountId(), subject, want)
	}
	return rowFromEvent(&ev, testHookID, stored), nil
}

func rowFromEvent(ev *pbxhooksv1.Event, testHookID string, stored time.Time) Row {
	received := stored.UTC()
	if ts := ev.GetReceivedAt(); ts.IsValid() {
		received = ts.AsTime()
	}
	occurred := received
	if ts := ev.GetOccurredAt(); ts.IsValid() {
		occurred = ts.AsTime()
	}
	r := Row{
		AccountID: ev.GetAccountId(), EventID: ev.GetId(), Kind: ev.GetKind(),
		Lifecycle: ev.GetLifecycle(), CallType: ev.GetCallType(), Status: ev.GetStatus(),
		MediaType: ev.GetMedia().GetType(), MediaID: ev.GetMedia().GetMediaId(),
		IsInternalLeg: ev.GetIsInternalLeg(),
		CallID:        ev.GetCallId(), ThreadID: ev.GetThreadId(),
		FromNumber: ev.GetFrom(), ToNumber: ev.GetTo(), Direction: ev.GetDirection(),
		Source: ev.GetSource(), TestHookID: testHookID,
		OccurredAt: occurred, ReceivedAt: received,
	}
	for _, s := range []*string{&r.AccountID, &r.EventID, &r.Kind, &r.Lifecycle, &r.CallType, &r.Status,
		&r.MediaType, &r.MediaID, &r.CallID, &r.ThreadID, &r.FromNumber, &r.ToNumber, &r.Direction, &r.Source, &r.TestHookID} {
		*s = storable(*s)
	}
	if payload, err := protojson.Marshal(ev); err == nil && len(payload) <= MaxPayloadBytes &&
		!bytes.Contains(payload, []byte(`\u0000`)) {
		r.Payload = payload
	}
	return r
}

// maxFieldBytes bounds each indexed text field; ids and numbers are far
// shorter, and an index entry must stay well under PostgreSQL's limit.
const maxFieldBytes = 512

// storable makes s fit a PostgreSQL text column and an index entry: no NUL
// (PostgreSQL refuses it) and at most maxFieldBytes, cut on a rune boundary.
func storable(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= maxFieldBytes {
		return s
	}
	cut := maxFieldBytes
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// TestHookID is the hook a POST .../test event is meant for, from its
// header; empty for real events.
func TestHookID(msg jetstream.Msg) string {
	if h := msg.Headers(); h != nil {
		return storable(h.Get(bus.HeaderTestHookID))
	}
	return ""
}

// SelectionEvent rebuilds from an indexed event the fields a hook's
// selection looks at (kind, lifecycle, call type, status, media type,
// internal leg), so the filter preview runs event.Selection.Matches, the
// matcher's own rule, over indexed events.
func SelectionEvent(r *store.EventsIndex) *pbxhooksv1.Event {
	ev := &pbxhooksv1.Event{
		Id: r.EventID, AccountId: r.AccountID, Kind: r.Kind, Lifecycle: r.Lifecycle,
		CallType: r.CallType, Status: r.Status, IsInternalLeg: r.IsInternalLeg,
	}
	if r.MediaType != "" {
		ev.Media = &pbxhooksv1.Media{Type: r.MediaType, MediaId: r.MediaID}
	}
	return ev
}
