// Package hookstate gives the deliverer what it needs of a hook at send
// time: whether it is still enabled, its signing keys and the account's
// auto-disable rule. Entries are read from PostgreSQL by hook id and kept
// for a short TTL; a hooks.changed.<account_id> notice (core NATS, published
// by the API and by the deliverer itself when it disables a hook) drops that
// account's entries at once, so a secret rotation or a re-enable takes
// effect on every replica within moments, and within the TTL even when a
// notice is lost.
package hookstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"golang.org/x/sync/singleflight"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/signing"
)

// DefaultTTL bounds how stale an entry may be when a change notice is lost.
const DefaultTTL = 30 * time.Second

// ErrNotFound says the hook no longer exists.
var ErrNotFound = errors.New("hook not found")

// Source reads one hook; *store.Queries implements it.
type Source interface {
	GetDeliveryHook(ctx context.Context, id string) (store.GetDeliveryHookRow, error)
}

// Hook is the delivery-time view of a hook.
type Hook struct {
	ID            string
	AccountID     string
	Enabled       bool
	DisableReason string
	// Relay: the hook is a `pbxhooks listen` relay hook, whose requests go
	// to its listener instead of its uri.
	Relay    bool
	Revision int64
	// ModifiedAt is when the hook last changed; a disabled hook's queued
	// deliveries made before it are not sent.
	ModifiedAt time.Time
	// AttemptFailureCount and AttemptFailureExpiry are the account's
	// auto-disable override; zero means the deployment default.
	AttemptFailureCount  int
	AttemptFailureExpiry time.Duration

	key               signing.Key
	previousKey       signing.Key
	previousExpiresAt time.Time
	secretErr         error
}

// SigningKeys returns the keys that sign a request made at now: the current
// key, then the previous one while its overlap lasts. It fails when the
// stored current secret cannot be decoded.
func (h *Hook) SigningKeys(now time.Time) ([]signing.Key, error) {
	if h.secretErr != nil {
		return nil, h.secretErr
	}
	keys := []signing.Key{h.key}
	if h.previousKey != nil && now.Before(h.previousExpiresAt) {
		keys = append(keys, h.previousKey)
	}
	return keys, nil
}

func fromRow(r store.GetDeliveryHookRow) *Hook {
	h := &Hook{
		ID: r.ID, AccountID: r.AccountID, Enabled: r.Enabled, DisableReason: r.DisableReason,
		Relay: r.Relay, Revision: r.Revision, ModifiedAt: r.ModifiedAt,
	}
	if r.AttemptFailureCount != nil {
		h.AttemptFailureCount = int(*r.AttemptFailureCount)
	}
	if r.AttemptFailureExpirySeconds != nil {
		h.AttemptFailureExpiry = time.Duration(*r.AttemptFailureExpirySeconds) * time.Second
	}
	h.key, h.secretErr = signing.ParseSecret(r.Secret)
	if h.secretErr != nil {
		h.secretErr = fmt.Errorf("hook %s: %w", r.ID, h.secretErr)
	}
	if r.PreviousSecret != "" && r.PreviousSecretExpiresAt != nil {
		// A broken previous secret only loses the overlap signature; the
		// current one still signs.
		if key, err := signing.ParseSecret(r.PreviousSecret); err == nil {
			h.previousKey, h.previousExpiresAt = key, *r.PreviousSecretExpiresAt
		}
	}
	return h
}

type entry struct {
	hook     *Hook // nil: the hook does not exist
	loadedAt time.Time
}

// Cache is a concurrency-safe TTL cache of hooks by id.
type Cache struct {
	src Source
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]entry
	// accounts maps an account to its cached hook ids, for invalidation.
	accounts map[string]map[string]struct{}
	// generation counts invalidations per account, so a load that began
	// before a notice does not store what it read.
	generation map[string]uint64

	loads singleflight.Group
	sub   *nats.Subscription
}

// New returns a cache; ttl falls back to DefaultTTL and now to time.Now.
func New(src Source, ttl time.Duration, now func() time.Time) *Cache {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{
		src: src, ttl: ttl, now: now,
		entries: map[string]entry{}, accounts: map[string]map[string]struct{}{}, generation: map[string]uint64{},
	}
}

// Subscribe drops an account's entries whenever hooks.changed.<account_id>
// arrives; Close ends the subscription.
func (c *Cache) Subscribe(nc *nats.Conn) error {
	sub, err := nc.Subscribe(bus.HooksChangedAll, func(m *nats.Msg) {
		if accountID, err := bus.HooksChangedAccount(m.Subject); err == nil {
			c.InvalidateAccount(accountID)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", bus.HooksChangedAll, err)
	}
	c.sub = sub
	return nil
}

// Close ends the change subscription.
func (c *Cache) Close() {
	if c.sub != nil {
		_ = c.sub.Unsubscribe()
	}
}

// InvalidateAccount drops every cached hook of accountID.
func (c *Cache) InvalidateAccount(accountID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation[accountID]++
	for id := range c.accounts[accountID] {
		delete(c.entries, id)
	}
	delete(c.accounts, accountID)
}

// Get returns the hook, from the cache when fresh, else from the database
// (one load per hook id at a time, however many deliveries ask). accountID
// is the delivery's account, used to scope invalidation; a hook that
// belongs to another account is reported as not found. It returns
// ErrNotFound when the hook is gone.
func (c *Cache) Get(ctx context.Context, accountID, hookID string) (*Hook, error) {
	c.mu.Lock()
	e, ok := c.entries[hookID]
	gen := c.generation[accountID]
	c.mu.Unlock()
	if !ok || c.now().Sub(e.loadedAt) >= c.ttl {
		v, err, _ := c.loads.Do(hookID, func() (any, error) { return c.load(ctx, accountID, hookID, gen) })
		if err != nil {
			return nil, err
		}
		e = v.(entry)
	}
	if e.hook == nil || e.hook.AccountID != accountID {
		return nil, ErrNotFound
	}
	return e.hook, nil
}

func (c *Cache) load(ctx context.Context, accountID, hookID string, gen uint64) (entry, error) {
	loadedAt := c.now()
	row, err := c.src.GetDeliveryHook(ctx, hookID)
	var e entry
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		e = entry{loadedAt: loadedAt}
	case err != nil:
		return entry{}, fmt.Errorf("load hook %s: %w", hookID, err)
	default:
		e = entry{hook: fromRow(row), loadedAt: loadedAt}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation[accountID] == gen {
		c.entries[hookID] = e
		if c.accounts[accountID] == nil {
			c.accounts[accountID] = map[string]struct{}{}
		}
		c.accounts[accountID][hookID] = struct{}{}
	}
	return e, nil
}
