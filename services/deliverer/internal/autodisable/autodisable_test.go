package autodisable_test

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/autodisable"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/hookstate"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

type notices struct {
	mu   sync.Mutex
	sent map[string]int
}

func (n *notices) Publish(subject string, _ []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent[subject]++
	return nil
}

func setup(t *testing.T) (*store.Queries, *hookstate.Hook) {
	t.Helper()
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	if err := q.EnsureAccount(t.Context(), "acct1"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.InsertHook(t.Context(), store.InsertHookParams{
		ID: "hk1", AccountID: "acct1", Name: "n", Uri: "https://example.com/", HttpVerb: "post", Hook: "all",
		Retries: 0, CustomData: json.RawMessage(`{}`), Enabled: true, Format: "json",
		CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{}, Secret: "whsec_AAAA",
	}); err != nil {
		t.Fatal(err)
	}
	h, err := hookstate.New(q, 0, nil).Get(t.Context(), "acct1", "hk1")
	if err != nil {
		t.Fatal(err)
	}
	return q, h
}

// The window is in PostgreSQL: failures recorded by one tracker (a replica,
// or a deliverer before its restart) count for another.
func TestFailureWindowIsSharedAndSurvivesRestart(t *testing.T) {
	t.Parallel()
	q, hook := setup(t)
	log := slog.New(slog.DiscardHandler)
	sent := &notices{sent: map[string]int{}}
	rule := autodisable.Rule{Count: 6, Expiry: time.Minute}
	replicaA := autodisable.New(q, sent, rule, log, nil)
	replicaB := autodisable.New(q, sent, rule, log, nil)
	now := time.Now()
	for i := range 5 {
		disabled, err := replicaA.Failure(t.Context(), hook, now.Add(time.Duration(i)*time.Second))
		if err != nil || disabled {
			t.Fatalf("failure %d: disabled %v err %v", i+1, disabled, err)
		}
	}
	disabled, err := replicaB.Failure(t.Context(), hook, now.Add(5*time.Second))
	if err != nil || !disabled {
		t.Fatalf("sixth failure on another tracker: disabled %v err %v", disabled, err)
	}
	got, err := q.GetHookByID(t.Context(), "hk1")
	if err != nil || got.Enabled || got.DisableReason != "6 failed attempts within 1m0s" || got.Revision != hook.Revision+1 {
		t.Fatalf("hook = enabled %v reason %q revision %d (%v)", got.Enabled, got.DisableReason, got.Revision, err)
	}
	if sent.sent["hooks.disabled.acct1"] != 1 || sent.sent["hooks.changed.acct1"] != 1 {
		t.Fatalf("notices = %v", sent.sent)
	}
	// A second replica reaching the threshold does not announce it again.
	if again, err := replicaA.Failure(t.Context(), hook, now.Add(6*time.Second)); err != nil || again {
		t.Fatalf("already disabled hook disabled again: %v %v", again, err)
	}
}

func TestOldFailuresExpireAndSuccessOrNewRevisionResets(t *testing.T) {
	t.Parallel()
	q, hook := setup(t)
	tr := autodisable.New(q, &notices{sent: map[string]int{}}, autodisable.Rule{Count: 3, Expiry: 10 * time.Second},
		slog.New(slog.DiscardHandler), nil)
	now := time.Now()
	fail := func(at time.Time, h *hookstate.Hook) bool {
		t.Helper()
		d, err := tr.Failure(t.Context(), h, at)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Sliding window: two failures, then one 11 s later: only one counts.
	fail(now, hook)
	fail(now.Add(time.Second), hook)
	if fail(now.Add(12*time.Second), hook) {
		t.Fatal("expired failures counted")
	}
	// A success empties the window.
	fail(now.Add(13*time.Second), hook)
	if err := tr.Success(t.Context(), hook.ID); err != nil {
		t.Fatal(err)
	}
	fail(now.Add(14*time.Second), hook)
	if fail(now.Add(15*time.Second), hook) {
		t.Fatal("failures before a success counted")
	}
	// A newer revision (re-enabled hook) starts afresh.
	newer := *hook
	newer.Revision++
	if fail(now.Add(16*time.Second), &newer) {
		t.Fatal("failures of an older revision counted")
	}
	// A stale replica with the older revision does not roll it back.
	if fail(now.Add(17*time.Second), hook) {
		t.Fatal("two failures disabled the hook")
	}
	if !fail(now.Add(18*time.Second), &newer) {
		t.Fatal("three failures within the window did not disable the hook")
	}
}
