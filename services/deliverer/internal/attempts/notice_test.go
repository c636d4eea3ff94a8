package attempts_test

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// TestAnnouncerPublishesAfterTheRowIsCommitted: the notice names the
// attempt, and by the time it arrives the row is readable.
func TestAnnouncerPublishesAfterTheRowIsCommitted(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	_, nc, _ := testenv.JetStream(t)
	q := store.New(pool)
	if err := attempts.EnsurePartitions(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	w := attempts.NewWriter(q, slog.New(slog.DiscardHandler), 0, 0)
	go w.Run()
	t.Cleanup(w.Stop)
	subject, err := bus.AccountAttemptNotices("acct")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	a := &attempts.Announcer{Writer: w, NATS: nc, Log: slog.New(slog.DiscardHandler)}
	r := row("acct", 7, "failure")
	status := int32(503)
	r.ResponseStatus, r.Reason, r.Attempt = &status, "HTTP 503", 2
	if err := a.Record(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no notice: %v", err)
	}
	if msg.Subject != "attempts.acct.hk1" {
		t.Fatalf("notice on %s", msg.Subject)
	}
	var n bus.AttemptNotice
	if err := json.Unmarshal(msg.Data, &n); err != nil {
		t.Fatal(err)
	}
	if n.AccountID != "acct" || n.HookID != "hk1" || n.EventID != "ev7" || n.DeliveryID != "ev7:hk1" ||
		n.Attempt != 2 || n.Result != "failure" || n.Status != 503 || n.Reason != "HTTP 503" {
		t.Fatalf("notice = %+v", n)
	}
	if got := countRows(t, q, "acct"); got != 1 {
		t.Fatalf("%d rows when the notice arrived, want 1", got)
	}
}
