package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// Rejected input is answered 400 only once its dead-letter copy is stored.
// While the dead-letter stream cannot take the copy the sender is told 503
// with Retry-After, as the NATS consumer redelivers such a message, so
// the input is resent and its copy made then, not lost after a log line.
func TestInvalidEventWhoseDeadLetterFailsIs503UntilTheCopyIsStored(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	if err := js.DeleteStream(t.Context(), bus.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	body := `{"event":"channel_create","direction":"sideways"}`

	a := post(t, srv, "acct1", "application/json", body)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || a.body["error"] != "503" {
		t.Fatalf("answer with the dead-letter stream gone: %d %v (Retry-After %q), want 503 with Retry-After",
			a.status, a.body, a.header.Get("Retry-After"))
	}
	if batch := post(t, srv, "acct1", "application/json", `[{"event":"channel_create","call_id":"ok1"},`+body+`]`); batch.status != http.StatusServiceUnavailable {
		t.Errorf("batch with an invalid event, dead-letter stream gone: %d %v, want 503", batch.status, batch.body)
	}

	if err := bus.EnsureStreams(t.Context(), js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	a = post(t, srv, "acct1", "application/json", body)
	if a.status != http.StatusBadRequest {
		t.Fatalf("resend once the stream is back: %d %v, want 400", a.status, a.body)
	}
	dead := testenv.StoredMsgs(t, js, bus.StreamDeadLetter)
	if len(dead) != 1 || string(dead[0].Data) != body || dead[0].Subject != bus.DeadLetterSubject("acct1") ||
		!strings.Contains(dead[0].Header.Get(bus.HeaderDeadLetterReason), "direction must be one of") {
		t.Errorf("dead letters after the resend: %d, want the one copy of the invalid event", len(dead))
	}
}
