package hookcache_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/hookcache"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func createHook(t *testing.T, q *store.Queries, accountID string, enabled bool) string {
	t.Helper()
	if err := q.EnsureAccount(t.Context(), accountID); err != nil {
		t.Fatalf("ensure account: %v", err)
	}
	h, err := q.InsertHook(t.Context(), store.InsertHookParams{
		ID: newID("hk"), AccountID: accountID, Name: "n", Uri: "https://example.com/", HttpVerb: "post",
		Hook: "all", Retries: 1, CustomData: json.RawMessage(`{}`), Enabled: enabled, Format: "json",
		IncludeInternalLegs: true, CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{},
		Secret: "whsec_test",
	})
	if err != nil {
		t.Fatalf("create hook: %v", err)
	}
	return h.ID
}

func ids(hooks []store.Hook) []string {
	var out []string
	for _, h := range hooks {
		out = append(out, h.ID)
	}
	slices.Sort(out)
	return out
}

// TestLoadAllPagesThroughEveryEnabledHook uses a page smaller than the hook
// count so the paging itself is exercised.
func TestLoadAllPagesThroughEveryEnabledHook(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	a, b := newID("a"), newID("b")
	var wantA, wantB []string
	for range 3 {
		wantA = append(wantA, createHook(t, q, a, true))
		wantB = append(wantB, createHook(t, q, b, true))
	}
	createHook(t, q, a, false)
	slices.Sort(wantA)
	slices.Sort(wantB)

	cache := hookcache.New(hookcache.Deps{Source: q, Log: slog.New(slog.DiscardHandler), PageSize: 2})
	if err := cache.LoadAll(t.Context()); err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	if got := ids(cache.Hooks(a)); !slices.Equal(got, wantA) {
		t.Errorf("account a hooks = %v, want %v (enabled only)", got, wantA)
	}
	if got := ids(cache.Hooks(b)); !slices.Equal(got, wantB) {
		t.Errorf("account b hooks = %v, want %v", got, wantB)
	}
	if accounts, hooks := cache.Size(); accounts != 2 || hooks != 6 {
		t.Errorf("Size = %d accounts, %d hooks; want 2, 6", accounts, hooks)
	}
	if got := cache.Hooks("nobody"); len(got) != 0 {
		t.Errorf("unknown account has hooks %v", got)
	}
}

func TestReloadAccountReplacesOnlyThatAccount(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	a, b := newID("a"), newID("b")
	first := createHook(t, q, a, true)
	other := createHook(t, q, b, true)
	cache := hookcache.New(hookcache.Deps{Source: q, Log: slog.New(slog.DiscardHandler)})
	if err := cache.LoadAll(t.Context()); err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	held := cache.Hooks(a)

	second := createHook(t, q, a, true)
	if _, err := pool.Exec(t.Context(), "UPDATE hooks SET enabled = false WHERE id = $1", other); err != nil {
		t.Fatalf("disable hook: %v", err)
	}
	if err := cache.ReloadAccount(t.Context(), a); err != nil {
		t.Fatalf("ReloadAccount: %v", err)
	}
	want := []string{first, second}
	slices.Sort(want)
	if got := ids(cache.Hooks(a)); !slices.Equal(got, want) {
		t.Errorf("after reload account a = %v, want %v", got, want)
	}
	if got := ids(cache.Hooks(b)); !slices.Equal(got, []string{other}) {
		t.Errorf("account b changed without a reload: %v", got)
	}
	if got := ids(held); !slices.Equal(got, []string{first}) {
		t.Errorf("a slice handed out before the reload changed: %v", got)
	}

	if err := cache.ReloadAccount(t.Context(), b); err != nil {
		t.Fatalf("ReloadAccount: %v", err)
	}
	if got := cache.Hooks(b); len(got) != 0 {
		t.Errorf("account b still has hooks after its only hook was disabled: %v", ids(got))
	}
	if accounts, _ := cache.Size(); accounts != 1 {
		t.Errorf("Size reports %d accounts, want 1", accounts)
	}
}
