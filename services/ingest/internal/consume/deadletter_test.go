package consume

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// The account a dead-letter copy is filed under is ingest's to say, as on
// the HTTP intake: a PBX of acct1 that sets the account header on its
// message must not put its rejected input into acct2's dead letters.
func TestDeadLetterAccountIsTheSubjectsNotTheSendersHeader(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	startConsumer(t, js)

	msg := nats.NewMsg("pbx.events.acct1")
	msg.Data = []byte(`{"event":"channel_answer","timestamp":"noon"}`)
	msg.Header.Set(bus.HeaderAccountID, "acct2")
	msg.Header.Set("X-Pbx-Note", "kept")
	if _, err := js.PublishMsg(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "a dead letter", func() bool { return testenv.StreamMsgs(t, js, bus.StreamDeadLetter) == 1 })
	d := firstMsg(t, js, bus.StreamDeadLetter)
	if d.Subject != bus.DeadLetterSubject("acct1") || d.Header.Get(bus.HeaderAccountID) != "acct1" {
		t.Errorf("dead letter on %s for account %q, want %s for acct1", d.Subject, d.Header.Get(bus.HeaderAccountID), bus.DeadLetterSubject("acct1"))
	}
	if d.Header.Get("X-Pbx-Note") != "kept" {
		t.Errorf("the PBX's own headers were not kept on the copy: %v", d.Header)
	}
}

// A PBX message whose dead-letter copy cannot be stored stays on the PBX
// stream and is retried until the copy is made, the same rule the HTTP
// intake follows with 503.
func TestInvalidNATSInputWaitsForItsDeadLetterCopy(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	if err := js.DeleteStream(t.Context(), bus.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	startConsumer(t, js)
	pbxPublish(t, js, "pbx.events.acct1", `{"event":"channel_answer","timestamp":"noon"}`)

	// Long enough for several deliveries had the message been handled at
	// once; it must still be there, unacknowledged.
	time.Sleep(time.Second)
	if n := testenv.StreamMsgs(t, js, bus.StreamPBX); n != 1 {
		t.Fatalf("PBX stream holds %d messages while the dead-letter copy cannot be stored, want 1", n)
	}
	if err := bus.EnsureStreams(t.Context(), js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "the dead letter", func() bool { return testenv.StreamMsgs(t, js, bus.StreamDeadLetter) == 1 })
	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
}
