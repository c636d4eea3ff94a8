package hookstate_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/hookstate"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// source is an in-memory hooks table that counts reads.
type source struct {
	mu    sync.Mutex
	rows  map[string]store.GetDeliveryHookRow
	reads atomic.Int64
}

func (s *source) GetDeliveryHook(_ context.Context, id string) (store.GetDeliveryHookRow, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[id]
	if !ok {
		return r, pgx.ErrNoRows
	}
	return r, nil
}

func (s *source) set(r store.GetDeliveryHookRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows[r.ID] = r
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestCacheReloadsOnNoticeAndAfterTTL(t *testing.T) {
	t.Parallel()
	_, nc, _ := testenv.JetStream(t)
	src := &source{rows: map[string]store.GetDeliveryHookRow{}}
	src.set(store.GetDeliveryHookRow{ID: "hk1", AccountID: "acct1", Enabled: true, Secret: secret, Revision: 1})
	now := time.Unix(1000, 0)
	var clockMu sync.Mutex
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	c := hookstate.New(src, 30*time.Second, clock)
	if err := c.Subscribe(nc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)

	for range 3 {
		if h, err := c.Get(t.Context(), "acct1", "hk1"); err != nil || h.Revision != 1 {
			t.Fatalf("Get = %+v, %v", h, err)
		}
	}
	if src.reads.Load() != 1 {
		t.Fatalf("%d reads for 3 Gets within the TTL, want 1", src.reads.Load())
	}
	// Another account's hook is not served for this account.
	if _, err := c.Get(t.Context(), "acct2", "hk1"); !errors.Is(err, hookstate.ErrNotFound) {
		t.Fatalf("cross-account Get = %v", err)
	}

	src.set(store.GetDeliveryHookRow{ID: "hk1", AccountID: "acct1", Enabled: false, Secret: secret, Revision: 2})
	if err := nc.Publish(bus.HooksChangedSubject("acct1"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, err := c.Get(t.Context(), "acct1", "hk1")
		if err != nil {
			t.Fatal(err)
		}
		if h.Revision == 2 && !h.Enabled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the change notice did not reload the hook")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Without a notice, the TTL bounds staleness.
	src.set(store.GetDeliveryHookRow{ID: "hk1", AccountID: "acct1", Enabled: true, Secret: secret, Revision: 3})
	clockMu.Lock()
	now = now.Add(31 * time.Second)
	clockMu.Unlock()
	if h, _ := c.Get(t.Context(), "acct1", "hk1"); h.Revision != 3 {
		t.Fatalf("after the TTL revision = %d, want 3", h.Revision)
	}
	if _, err := c.Get(t.Context(), "acct1", "gone"); !errors.Is(err, hookstate.ErrNotFound) {
		t.Fatalf("missing hook: %v", err)
	}
}

func TestSigningKeysDropThePreviousSecretAfterItsExpiry(t *testing.T) {
	t.Parallel()
	expires := time.Unix(2000, 0)
	src := &source{rows: map[string]store.GetDeliveryHookRow{}}
	src.set(store.GetDeliveryHookRow{ID: "hk1", AccountID: "acct1", Secret: secret,
		PreviousSecret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", PreviousSecretExpiresAt: &expires})
	src.set(store.GetDeliveryHookRow{ID: "bad", AccountID: "acct1", Secret: "plain"})
	c := hookstate.New(src, 0, nil)
	h, err := c.Get(t.Context(), "acct1", "hk1")
	if err != nil {
		t.Fatal(err)
	}
	if keys, _ := h.SigningKeys(expires.Add(-time.Second)); len(keys) != 2 {
		t.Fatalf("%d keys during the overlap, want 2", len(keys))
	}
	if keys, _ := h.SigningKeys(expires); len(keys) != 1 {
		t.Fatalf("%d keys after the overlap, want 1", len(keys))
	}
	bad, err := c.Get(t.Context(), "acct1", "bad")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.SigningKeys(expires); err == nil {
		t.Fatal("a malformed secret signs")
	}
}
