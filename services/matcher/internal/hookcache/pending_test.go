package hookcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// gatedSource holds every per-account reload until the test opens the gate,
// so the window between a notice and its reload can be held open at will.
type gatedSource struct {
	*store.Queries
	started chan string
	gate    chan struct{}
}

func (g *gatedSource) ListEnabledHooksForAccount(ctx context.Context, accountID string) ([]store.Hook, error) {
	g.started <- accountID
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Queries.ListEnabledHooksForAccount(ctx, accountID)
}

func randomID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func insertHook(t *testing.T, q *store.Queries, accountID string) string {
	t.Helper()
	if err := q.EnsureAccount(t.Context(), accountID); err != nil {
		t.Fatalf("ensure account: %v", err)
	}
	h, err := q.InsertHook(t.Context(), store.InsertHookParams{
		ID: randomID("hk"), AccountID: accountID, Name: "n", Uri: "https://example.com/", HttpVerb: "post",
		Hook: "all", Retries: 1, CustomData: json.RawMessage(`{}`), Enabled: true, Format: "json",
		IncludeInternalLegs: true, CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{},
		Secret: "whsec_test",
	})
	if err != nil {
		t.Fatalf("create hook: %v", err)
	}
	return h.ID
}

// startGated runs a cache whose per-account reloads wait for the gate.
func startGated(t *testing.T, pendingWait time.Duration) (*Cache, *gatedSource, *store.Queries, func(accountID string)) {
	t.Helper()
	_, _, js := testenv.JetStream(t)
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	src := &gatedSource{Queries: q, started: make(chan string, 16), gate: make(chan struct{})}
	cache := New(Deps{Source: src, JS: js, Log: slog.New(slog.DiscardHandler), ResyncInterval: time.Hour, PendingWait: pendingWait})
	ctx, cancel := context.WithCancel(t.Context())
	if err := cache.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cache.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	notify := func(accountID string) {
		if err := bus.PublishHookChange(t.Context(), js, bus.HookChange{AccountID: accountID, Change: "updated"}, nil); err != nil {
			t.Fatalf("publish hook change of %s: %v", accountID, err)
		}
	}
	return cache, src, q, notify
}

func waitReloadStarted(t *testing.T, src *gatedSource, accountID string) {
	t.Helper()
	select {
	case got := <-src.started:
		if got != accountID {
			t.Fatalf("reload started for %s, want %s", got, accountID)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no reload started for %s after its notice", accountID)
	}
}

// TestLookupWaitsForAnnouncedReload is the race seen end to end: a hook is
// created, its notice arrives, and an event is matched before the reload is
// applied. Lookup must wait for the reload, not answer from the old view.
func TestLookupWaitsForAnnouncedReload(t *testing.T) {
	t.Parallel()
	// PendingWait far beyond the test deadline: the lookup may only
	// return because the reload was applied.
	cache, src, q, notify := startGated(t, time.Hour)
	acct := randomID("acct")
	hookID := insertHook(t, q, acct)
	if got := cache.Hooks(acct); len(got) != 0 {
		t.Fatalf("hook visible before any notice: %v", got)
	}

	waiting := make(chan struct{})
	cache.onWait = func(string) { close(waiting) }
	notify(acct)
	// The reload has started, so the notice was handled; it is held at
	// the gate, so the view is still the old one.
	waitReloadStarted(t, src, acct)

	result := make(chan []store.Hook, 1)
	go func() { result <- cache.Lookup(t.Context(), acct) }()
	select {
	case <-waiting:
	case hooks := <-result:
		t.Fatalf("Lookup answered %d hooks while the announced reload was still running", len(hooks))
	case <-time.After(10 * time.Second):
		t.Fatal("Lookup neither waited nor answered")
	}
	close(src.gate)
	select {
	case hooks := <-result:
		if len(hooks) != 1 || hooks[0].ID != hookID {
			t.Fatalf("Lookup after the reload = %v, want hook %s", hooks, hookID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lookup still waiting after the reload was applied")
	}
}

// TestLookupWaitIsBounded: a reload that never completes delays the
// account's events by PendingWait, then they are matched against the
// previous view.
func TestLookupWaitIsBounded(t *testing.T) {
	t.Parallel()
	cache, src, _, notify := startGated(t, 50*time.Millisecond)
	defer close(src.gate)
	acct := randomID("acct")
	notify(acct)
	waitReloadStarted(t, src, acct)

	result := make(chan []store.Hook, 1)
	go func() { result <- cache.Lookup(t.Context(), acct) }()
	select {
	case hooks := <-result:
		if len(hooks) != 0 {
			t.Fatalf("Lookup = %v, want the previous (empty) view", hooks)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Lookup did not give up after PendingWait")
	}
}

// TestLookupOfOtherAccountsDoesNotWait: a pending reload of one account
// never delays another account's events.
func TestLookupOfOtherAccountsDoesNotWait(t *testing.T) {
	t.Parallel()
	cache, src, q, notify := startGated(t, time.Hour)
	defer close(src.gate)
	busy, other := randomID("busy"), randomID("other")
	otherHook := insertHook(t, q, other)
	if err := cache.LoadAll(t.Context()); err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	cache.onWait = func(accountID string) { t.Errorf("Lookup of %s waited", accountID) }
	notify(busy)
	waitReloadStarted(t, src, busy)
	if got := cache.Lookup(t.Context(), other); len(got) != 1 || got[0].ID != otherHook {
		t.Fatalf("Lookup(other) = %v, want hook %s", got, otherHook)
	}
}

// TestLookupRightAfterANoticeIsStoredSeesTheChange: the notice is stored
// (JetStream acked it) and Lookup is called at once, before the cache can
// have read it. Lookup learns the newest notice's sequence from the stream,
// so it waits for that notice and its reload instead of answering from the
// old view; no timing decides this.
func TestLookupRightAfterANoticeIsStoredSeesTheChange(t *testing.T) {
	t.Parallel()
	// PendingWait far beyond the test deadline: the lookup may only
	// return because the reload was applied.
	cache, src, q, notify := startGated(t, time.Hour)
	for range 3 {
		acct := randomID("acct")
		hookID := insertHook(t, q, acct)
		notify(acct)
		result := make(chan []store.Hook, 1)
		go func() { result <- cache.Lookup(t.Context(), acct) }()
		waitReloadStarted(t, src, acct)
		select {
		case hooks := <-result:
			t.Fatalf("Lookup answered %d hooks before the announced reload was applied", len(hooks))
		default:
		}
		src.gate <- struct{}{}
		select {
		case hooks := <-result:
			if len(hooks) != 1 || hooks[0].ID != hookID {
				t.Fatalf("Lookup = %v, want hook %s", hooks, hookID)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Lookup still waiting after the reload was applied")
		}
	}
}

// TestLookupWithoutNoticesDoesNotWait: with no notice newer than the cache,
// Lookup answers from the view without waiting for any reload.
func TestLookupWithoutNoticesDoesNotWait(t *testing.T) {
	t.Parallel()
	cache, src, q, _ := startGated(t, time.Hour)
	defer close(src.gate)
	acct := randomID("acct")
	hookID := insertHook(t, q, acct)
	if err := cache.LoadAll(t.Context()); err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	cache.onWait = func(accountID string) { t.Errorf("Lookup of %s waited", accountID) }
	for range 3 {
		if got := cache.Lookup(t.Context(), acct); len(got) != 1 || got[0].ID != hookID {
			t.Fatalf("Lookup = %v, want hook %s", got, hookID)
		}
	}
}
