package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/consume"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/native"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// The same invalid event sent over HTTP and published on NATS leaves the
// same dead-letter copy: one pipeline, so one reason, one account and the
// input kept as sent, whichever way it came.
func TestBothTransportsDeadLetterTheSameWay(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	srv := newServer(t, nc, js, testLimits)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	c, err := consume.New(consume.Deps{
		JS: js, Log: log, Pipeline: newPipeline(t, js, log, mediaStore(t, js, testMaxMediaBytes), testLimits),
		Adapters: []adapter.Adapter{native.Adapter()}, Workers: 1,
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
			t.Errorf("consumer Run after cancel: %v", err)
		}
	})

	body := `{"event":"channel_create","direction":"sideways"}`
	if a := post(t, srv, "acct1", "application/json", body); a.status != http.StatusBadRequest {
		t.Fatalf("HTTP answer %d %v, want 400", a.status, a.body)
	}
	if _, err := js.Publish(t.Context(), "pbx.events.acct1", []byte(body)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "both dead letters", func() bool { return testenv.StreamMsgs(t, js, bus.StreamDeadLetter) == 2 })
	dl := testenv.StoredMsgs(t, js, bus.StreamDeadLetter)
	overHTTP, overNATS := dl[0], dl[1]
	if overHTTP.Header.Get(bus.HeaderDeadLetterSource) != "POST /v1/accounts/acct1/events" || overNATS.Header.Get(bus.HeaderDeadLetterSource) != "pbx.events.acct1" {
		t.Fatalf("dead letters from %q and %q, want the HTTP one then the NATS one",
			overHTTP.Header.Get(bus.HeaderDeadLetterSource), overNATS.Header.Get(bus.HeaderDeadLetterSource))
	}
	if h, n := overHTTP.Header.Get(bus.HeaderDeadLetterReason), overNATS.Header.Get(bus.HeaderDeadLetterReason); h != n {
		t.Errorf("reasons differ:\nHTTP %q\nNATS %q", h, n)
	}
	for _, d := range dl {
		if d.Subject != bus.DeadLetterSubject("acct1") || d.Header.Get(bus.HeaderAccountID) != "acct1" || string(d.Data) != body {
			t.Errorf("dead letter from %s: on %s for %q with %q", d.Header.Get(bus.HeaderDeadLetterSource), d.Subject, d.Header.Get(bus.HeaderAccountID), d.Data)
		}
	}
}
