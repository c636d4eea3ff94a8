package consume

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	amimsg "github.com/pbxhooks/pbxhooks/pkg/ami"
	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ami"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ari"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/chanstate"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/freeswitch"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/native"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// startReplica runs one ingest consumer as main wires it: the ARI adapter
// with channel state in the shared Key-Value bucket.
func startReplica(t *testing.T, js jetstream.JetStream, kv jetstream.KeyValue) {
	t.Helper()
	adapters := []adapter.Adapter{
		native.Adapter(), freeswitch.Adapter(freeswitch.Options{}),
		ari.Adapter(ari.Options{Channels: chanstate.KV{KV: kv}}),
		ami.Adapter(ami.Options{Channels: chanstate.KV{KV: kv}}),
	}
	c, err := New(Deps{
		JS: js, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Pipeline: newPipeline(t, js, 64<<10),
		Adapters: adapters, Workers: 8,
	})
	if err != nil {
		t.Fatal(err)
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

// TestARICaptureThroughSeveralReplicas publishes the captured ARI stream
// of a busy call on the PBX stream and lets three ingest replicas with
// eight workers each consume it: the per-channel state must see the events
// in the order Asterisk emitted them, so every leg ends busy as the Dial
// said, with one direction and one thread.
func TestARICaptureThroughSeveralReplicas(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	kv, err := bus.EnsureChannelStateBucket(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(testenv.SharedFixture(t, "pbx-captures", "asterisk", "ari_linkedid.jsonl")))
	sc.Buffer(nil, 1<<20)
	frames := 0
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		pbxPublish(t, js, "pbx.ari.acct3", sc.Text())
		frames++
	}
	for range 3 {
		startReplica(t, js, kv)
	}
	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
	// 4 channels: a channel_create and a channel_destroy each.
	testenv.Eventually(t, 15*time.Second, "every event on EVENTS", func() bool { return testenv.StreamMsgs(t, js, bus.StreamEvents) >= 8 })
	got := eventsByCall(t, js)
	want := map[string]string{
		"1796049121.28": "events.acct3.call.outgoing_call.",
		"1796049121.29": "events.acct3.call.incoming_call.",
		"1796049121.30": "events.acct3.call.outgoing_call.",
		"1796049121.31": "events.acct3.call.incoming_call.",
	}
	for id, prefix := range want {
		evs := got[id]
		if len(evs) != 2 {
			t.Errorf("channel %s: %d events, want ringing and destroy", id, len(evs))
			continue
		}
		for _, s := range evs {
			if s.event.GetThreadId() != "1796049121.28" {
				t.Errorf("channel %s: thread %q", id, s.event.GetThreadId())
			}
			if s.event.GetLifecycle() == event.LifecycleChannelCreate && s.subject != prefix+"ringing" {
				t.Errorf("channel %s: ringing on %s, want %sringing", id, s.subject, prefix)
			}
			if s.event.GetLifecycle() == event.LifecycleChannelDestroy && id != "1796049121.28" && s.subject != prefix+"busy" {
				t.Errorf("channel %s: ended on %s, want %sbusy", id, s.subject, prefix)
			}
		}
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamDeadLetter); n != 0 {
		t.Errorf("DEADLETTER holds %d messages, want 0", n)
	}
	t.Logf("%d ARI frames replayed", frames)
}

// TestAMICaptureThroughSeveralReplicas is the same over AMI: each captured
// event message is one PBX-stream message on pbx.ami.<account>.
func TestAMICaptureThroughSeveralReplicas(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	kv, err := bus.EnsureChannelStateBucket(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := testenv.SharedFixture(t, "pbx-captures", "asterisk", "ami_linkedid.txt")
	_, stream, _ := bytes.Cut(b, []byte("\n"))
	r := bufio.NewReader(bytes.NewReader(stream))
	for {
		m, err := amimsg.ReadMessage(r)
		if err != nil {
			break
		}
		if m.Has("Event") {
			pbxPublish(t, js, "pbx.ami.acct4", string(m.Raw))
		}
	}
	for range 3 {
		startReplica(t, js, kv)
	}
	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
	testenv.Eventually(t, 15*time.Second, "every event on EVENTS", func() bool { return testenv.StreamMsgs(t, js, bus.StreamEvents) >= 8 })
	got := eventsByCall(t, js)
	for id, end := range map[string]string{
		"1796049121.29": "events.acct4.call.incoming_call.busy",
		"1796049121.30": "events.acct4.call.outgoing_call.busy",
		"1796049121.31": "events.acct4.call.incoming_call.busy",
	} {
		evs := got[id]
		if len(evs) == 0 || evs[len(evs)-1].subject != end {
			t.Errorf("channel %s: %v, want to end on %s", id, evs, end)
		}
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamDeadLetter); n != 0 {
		t.Errorf("DEADLETTER holds %d messages, want 0", n)
	}
}
