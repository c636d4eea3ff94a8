// Package hookcache keeps every account's enabled hooks in memory, so that
// matching an event costs a map lookup plus one check per hook of that
// account, never a database round trip.
//
// The view is loaded in full at start, reloaded for one account when the API
// announces a change on hooks.changed.<account_id> (core NATS), and reloaded
// in full every resync interval so that a notification missed during a NATS
// outage heals on its own.
//
// A notice marks its account pending before any event read after it is
// matched; Lookup for a pending account waits (bounded by Deps.PendingWait)
// for that reload, so an event published just after a hook change is matched
// against the changed hooks rather than the view from before.
//
// Why that ordering holds: the API publishes the notice (and flushes) before
// it answers, so the notice reaches NATS before the event the client sends
// next. The notice subscription and the event consumer share one connection,
// and nats.go's reader puts a channel subscription's message into its Go
// channel before it reads the next message off the socket. So when an event
// is in hand, its notice is already in the channel, and Lookup drains the
// channel before it looks at the pending accounts.
package hookcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Source reads enabled hooks; *store.Queries implements it.
type Source interface {
	ListEnabledHooks(ctx context.Context, arg store.ListEnabledHooksParams) ([]store.Hook, error)
	ListEnabledHooksForAccount(ctx context.Context, accountID string) ([]store.Hook, error)
}

// DefaultPageSize bounds one query of the full load.
const DefaultPageSize = 1000

// DefaultResyncInterval is how often the whole view is reloaded.
const DefaultResyncInterval = 30 * time.Second

// DefaultPendingWait bounds how long Lookup waits for an announced reload.
// Past it the event is matched against the view at hand: a database outage
// must slow an account's events down, not stop them.
const DefaultPendingWait = 2 * time.Second

// Deps are what a Cache needs.
type Deps struct {
	Source Source
	NATS   *nats.Conn
	Log    *slog.Logger
	// ResyncInterval is the period of the full reload; DefaultResyncInterval
	// when zero.
	ResyncInterval time.Duration
	// PageSize is the number of hooks read per query of the full load;
	// DefaultPageSize when zero.
	PageSize int32
	// PendingWait bounds Lookup's wait for an announced reload;
	// DefaultPendingWait when zero.
	PendingWait time.Duration
}

// Cache is a concurrency-safe, per-account view of enabled hooks. An
// account's slice is replaced, never modified in place, so a slice handed to
// a reader stays valid while the view moves on.
type Cache struct {
	deps Deps

	mu   sync.RWMutex
	view map[string][]store.Hook

	// writeMu serialises reloads, so a full reload that read an account
	// before it changed can never overwrite the newer per-account reload.
	writeMu sync.Mutex

	sub *nats.Subscription
	// notices receives hooks.changed messages straight from the NATS reader;
	// noticeMu makes draining it and marking accounts pending one step, so no
	// notice is ever between the channel and the pending set unseen.
	notices  chan *nats.Msg
	noticeMu sync.Mutex

	pendingMu sync.Mutex
	// queued holds, per account, the reload announced and not yet started
	// by Run; a burst of notices for one account costs one reload.
	queued map[string]*reload
	// unapplied holds, per account, the newest announced reload, queued or
	// running: the one a Lookup must wait for. A notice arriving while a
	// reload runs queues a new one, because the running reload may have
	// read the database before the change being announced.
	unapplied map[string]*reload
	wake      chan struct{}

	// onWait, when set (tests only), is called as a Lookup starts to wait.
	onWait func(accountID string)
}

// reload is one announced reload of one account; applied is closed once the
// reload has been applied to the view (or has failed).
type reload struct {
	applied chan struct{}
}

// New returns an empty cache; Start fills it.
func New(deps Deps) *Cache {
	if deps.ResyncInterval <= 0 {
		deps.ResyncInterval = DefaultResyncInterval
	}
	if deps.PageSize <= 0 {
		deps.PageSize = DefaultPageSize
	}
	if deps.PendingWait <= 0 {
		deps.PendingWait = DefaultPendingWait
	}
	return &Cache{
		deps:      deps,
		view:      map[string][]store.Hook{},
		queued:    map[string]*reload{},
		unapplied: map[string]*reload{},
		wake:      make(chan struct{}, 1),
		notices:   make(chan *nats.Msg, noticeBuffer),
	}
}

// noticeBuffer bounds the notices held between drains. Past it nats.go drops
// notices as a slow consumer; the periodic resync heals what was dropped.
const noticeBuffer = 8192

// noticePoll is how often Run drains notices when no event does it first.
const noticePoll = 2 * time.Millisecond

// Hooks returns the enabled hooks of accountID as the view holds them now,
// without waiting for an announced reload. The slice is shared with the
// cache and must not be modified.
func (c *Cache) Hooks(accountID string) []store.Hook {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.view[accountID]
}

// Lookup returns the enabled hooks of accountID once every reload announced
// for it so far has been applied, waiting at most Deps.PendingWait (or until
// ctx ends); past that it returns the view at hand. Accounts without a
// pending reload cost no wait. The slice must not be modified.
func (c *Cache) Lookup(ctx context.Context, accountID string) []store.Hook {
	c.drainNotices()
	c.pendingMu.Lock()
	r := c.unapplied[accountID]
	c.pendingMu.Unlock()
	if r != nil {
		if c.onWait != nil {
			c.onWait(accountID)
		}
		timer := time.NewTimer(c.deps.PendingWait)
		select {
		case <-r.applied:
		case <-timer.C:
			c.deps.Log.WarnContext(ctx, "hook reload still pending; matching against the previous view",
				telemetry.KeyAccountID, accountID, "waited", c.deps.PendingWait.String())
		case <-ctx.Done():
		}
		timer.Stop()
	}
	return c.Hooks(accountID)
}

// Start subscribes to hook change notices and then loads every enabled hook.
// Subscribing first means a change made while the load runs is reloaded
// afterwards, not lost. Run must be called to apply notices.
func (c *Cache) Start(ctx context.Context) error {
	sub, err := c.deps.NATS.ChanSubscribe(bus.HooksChangedAll, c.notices)
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", bus.HooksChangedAll, err)
	}
	c.sub = sub
	if err := c.LoadAll(ctx); err != nil {
		_ = sub.Unsubscribe()
		return err
	}
	return nil
}

// Run applies change notices and periodic full reloads until ctx ends. A
// failed reload is logged and retried on the next notice or resync; the old
// view stays in use meanwhile.
func (c *Cache) Run(ctx context.Context) error {
	defer func() {
		if c.sub != nil {
			_ = c.sub.Unsubscribe()
		}
	}()
	ticker := time.NewTicker(c.deps.ResyncInterval)
	defer ticker.Stop()
	poll := time.NewTicker(noticePoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			c.drainNotices()
		case <-ticker.C:
			if err := c.LoadAll(ctx); err != nil && ctx.Err() == nil {
				c.deps.Log.ErrorContext(ctx, "hook resync failed; keeping the previous view", telemetry.KeyError, err)
			}
		case <-c.wake:
			for accountID, r := range c.takeQueued() {
				// A failed reload still releases the waiters: they would
				// only wait out PendingWait to read the same old view.
				if err := c.ReloadAccount(ctx, accountID); err != nil && ctx.Err() == nil {
					c.deps.Log.ErrorContext(ctx, "hook reload failed; the next resync retries", telemetry.KeyAccountID, accountID, telemetry.KeyError, err)
				}
				c.markApplied(accountID, r)
			}
		}
	}
}

// drainNotices marks the account of every notice received so far pending.
// It never blocks on the channel, so Lookup can call it on every event.
func (c *Cache) drainNotices() {
	c.noticeMu.Lock()
	defer c.noticeMu.Unlock()
	for {
		select {
		case msg := <-c.notices:
			c.onNotice(msg)
		default:
			return
		}
	}
}

// onNotice marks the account pending right away, before Run gets to the
// reload, so that an event matched in between waits for the reload instead
// of missing the change. Callers hold noticeMu.
func (c *Cache) onNotice(msg *nats.Msg) {
	accountID, err := bus.HooksChangedAccount(msg.Subject)
	if err != nil {
		c.deps.Log.Warn("ignoring hook change notice", telemetry.KeySubject, msg.Subject, telemetry.KeyError, err)
		return
	}
	c.pendingMu.Lock()
	if _, ok := c.queued[accountID]; !ok {
		r := &reload{applied: make(chan struct{})}
		c.queued[accountID] = r
		c.unapplied[accountID] = r
	}
	c.pendingMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// takeQueued hands the queued reloads to Run; they stay unapplied until
// markApplied.
func (c *Cache) takeQueued() map[string]*reload {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	out := c.queued
	c.queued = map[string]*reload{}
	return out
}

func (c *Cache) markApplied(accountID string, r *reload) {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	if c.unapplied[accountID] == r {
		delete(c.unapplied, accountID)
	}
	close(r.applied)
}

// LoadAll replaces the whole view with every enabled hook, read page by
// page. On error the previous view stays.
func (c *Cache) LoadAll(ctx context.Context) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	next := map[string][]store.Hook{}
	after := ""
	for {
		page, err := c.deps.Source.ListEnabledHooks(ctx, store.ListEnabledHooksParams{AfterID: after, PageSize: c.deps.PageSize})
		if err != nil {
			return fmt.Errorf("load enabled hooks after %q: %w", after, err)
		}
		for _, h := range page {
			next[h.AccountID] = append(next[h.AccountID], h)
		}
		if len(page) < int(c.deps.PageSize) {
			break
		}
		after = page[len(page)-1].ID
	}
	c.mu.Lock()
	c.view = next
	c.mu.Unlock()
	return nil
}

// ReloadAccount replaces one account's hooks with what the database holds.
func (c *Cache) ReloadAccount(ctx context.Context, accountID string) error {
	if accountID == "" {
		return errors.New("reload hooks: empty account id")
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	hooks, err := c.deps.Source.ListEnabledHooksForAccount(ctx, accountID)
	if err != nil {
		return fmt.Errorf("load hooks for %s: %w", accountID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(hooks) == 0 {
		delete(c.view, accountID)
	} else {
		c.view[accountID] = hooks
	}
	return nil
}

// Size reports how many accounts have enabled hooks and how many hooks
// there are in all, for start-up logs and tests.
func (c *Cache) Size() (accounts, hooks int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, hs := range c.view {
		hooks += len(hs)
	}
	return len(c.view), hooks
}
