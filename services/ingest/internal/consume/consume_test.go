package consume

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/accept"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ari"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/freeswitch"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/native"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const maxEventBytes = 4096

// allAdapters are the formats main registers, with default options.
var allAdapters = []adapter.Adapter{native.Adapter(), freeswitch.Adapter(freeswitch.Options{}), ari.Adapter(ari.Options{})}

func mediaStore(t *testing.T, js jetstream.JetStream) *media.Store {
	t.Helper()
	obs, err := bus.EnsureMediaBucket(t.Context(), js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := media.New(obs, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newPipeline is the intake pipeline main builds, over js.
func newPipeline(t *testing.T, js jetstream.JetStream, maxBytes int) *accept.Pipeline {
	t.Helper()
	p, err := accept.New(accept.Deps{
		JS: js, Publisher: publish.New(js, nil), Media: mediaStore(t, js),
		Log:           slog.New(slog.NewJSONHandler(io.Discard, nil)),
		MaxEventBytes: maxBytes, PublishTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startConsumer runs the consumer until the test ends and checks that it
// stops cleanly when cancelled.
func startConsumer(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	c, err := New(Deps{
		JS: js, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Pipeline: newPipeline(t, js, maxEventBytes),
		Adapters: allAdapters, Workers: 4,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	})
}

func firstMsg(t *testing.T, js jetstream.JetStream, stream string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(t.Context(), info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pbxPublish(t *testing.T, js jetstream.JetStream, subject, body string) {
	t.Helper()
	if _, err := js.Publish(t.Context(), subject, []byte(body)); err != nil {
		t.Fatalf("publish on %s: %v", subject, err)
	}
}

func TestNATSEventIsStoredOnEvents(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	body := `{"event":"channel_destroy","call_id":"c7","direction":"inbound","hangup_cause":"ORIGINATOR_CANCEL"}`
	// The PBX re-sends the same event: it must be stored once.
	pbxPublish(t, js, "pbx.events.acct1", body)
	pbxPublish(t, js, "pbx.events.acct1", body)
	startConsumer(t, js)

	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
	if n := testenv.StreamMsgs(t, js, bus.StreamEvents); n != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1", n)
	}
	m := firstMsg(t, js, bus.StreamEvents)
	if m.Subject != "events.acct1.call.incoming_call.missed" {
		t.Errorf("subject %q", m.Subject)
	}
	var ev pbxhooksv1.Event
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(bus.HeaderMsgID) != "acct1/"+ev.GetId() || len(ev.GetId()) != 32 {
		t.Errorf("Nats-Msg-Id %q for event id %q", m.Header.Get(bus.HeaderMsgID), ev.GetId())
	}
	if ev.GetCallId() != "c7" || ev.GetAccountId() != "acct1" || ev.GetHangup().GetCause() != "ORIGINATOR_CANCEL" {
		t.Errorf("stored event %v", &ev)
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamDeadLetter); n != 0 {
		t.Errorf("DEADLETTER holds %d messages, want 0", n)
	}
}

func TestInvalidNATSInputIsDeadLettered(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	startConsumer(t, js)

	pbxPublish(t, js, "pbx.events.acct1", `{"event":"channel_answer","timestamp":"noon"}`)
	testenv.Eventually(t, 15*time.Second, "a dead letter", func() bool { return testenv.StreamMsgs(t, js, bus.StreamDeadLetter) == 1 })
	d := firstMsg(t, js, bus.StreamDeadLetter)
	reason := d.Header.Get(bus.HeaderDeadLetterReason)
	for _, want := range []string{"invalid native event", "call_id is required", "timestamp must be an RFC 3339"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q lacks %q", reason, want)
		}
	}
	if d.Header.Get(bus.HeaderDeadLetterSource) != "pbx.events.acct1" || string(d.Data) != `{"event":"channel_answer","timestamp":"noon"}` {
		t.Errorf("dead letter from %q with %q", d.Header.Get(bus.HeaderDeadLetterSource), d.Data)
	}

	pbxPublish(t, js, "pbx.events.acct1", `{"event":"channel_create","call_id":"c","pad":"`+strings.Repeat("x", maxEventBytes)+`"}`)
	testenv.Eventually(t, 15*time.Second, "a second dead letter", func() bool { return testenv.StreamMsgs(t, js, bus.StreamDeadLetter) == 2 })
	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
	s, err := js.Stream(t.Context(), bus.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.GetLastMsgForSubject(t.Context(), bus.DeadLetterSubject("acct1"))
	if err != nil {
		t.Fatal(err)
	}
	if reason := last.Header.Get(bus.HeaderDeadLetterReason); !strings.HasPrefix(reason, "event too large") {
		t.Errorf("oversized input dead-lettered with reason %q", reason)
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamEvents); n != 0 {
		t.Errorf("EVENTS holds %d messages, want 0", n)
	}
}
