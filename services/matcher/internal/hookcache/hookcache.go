// Package hookcache keeps every account's enabled hooks in memory, so that
// matching an event costs a map lookup plus one check per hook of that
// account, never a database round trip.
//
// The view is loaded in full at start, reloaded for one account when a
// hooks.changed.<account_id> notice arrives, and reloaded in full every
// resync interval so that a notice lost (say, published while NATS was
// down) heals on its own.
//
// Staleness is detected by sequence, not guessed. Notices are stored on the
// HOOK_CHANGES stream (the API publishes them with a JetStream ack before it
// answers), so each has a stream sequence. The cache reads them in order with
// an ordered consumer and remembers the sequence it has received. Before an
// event is matched, Lookup reads the sequence of the newest notice on the
// stream (one direct get, shared by every Lookup that started before it was
// sent), waits until it has received that far, and then waits for the
// account's announced reload, if any, to be applied. A notice stored before
// the event was read is thus always honoured, whatever the client library
// buffers, and an idle matcher does no work at all: nothing polls.
package hookcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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
	// JS reads the HOOK_CHANGES stream, which must exist before Start.
	JS  jetstream.JetStream
	Log *slog.Logger
	// ResyncInterval is the period of the full reload; DefaultResyncInterval
	// when zero.
	ResyncInterval time.Duration
	// PageSize is the number of hooks read per query of the full load;
	// DefaultPageSize when zero.
	PageSize int32
	// PendingWait bounds Lookup's wait for the newest notice and its
	// reload; DefaultPendingWait when zero.
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

	// notices is the ordered consumer's delivery of HOOK_CHANGES.
	notices jetstream.ConsumeContext
	// newest reads the newest notice's sequence, one read per round of
	// Lookups.
	newest *sharedRead

	pendingMu sync.Mutex
	// queued holds, per account, the reload announced and not yet started
	// by Run; a burst of notices for one account costs one reload.
	queued map[string]*reload
	// unapplied holds, per account, the newest announced reload, queued or
	// running: the one a Lookup must wait for. A notice arriving while a
	// reload runs queues a new one, because the running reload may have
	// read the database before the change being announced.
	unapplied map[string]*reload
	// received is the stream sequence of the last notice taken on (its
	// account marked pending); advanced is closed and replaced whenever it
	// grows, to wake the Lookups waiting for it.
	received uint64
	advanced chan struct{}
	wake     chan struct{}

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
		advanced:  make(chan struct{}),
		wake:      make(chan struct{}, 1),
	}
}

// newestReadTimeout bounds one read of the newest notice's sequence.
const newestReadTimeout = 5 * time.Second

// Hooks returns the enabled hooks of accountID as the view holds them now,
// without waiting for an announced reload. The slice is shared with the
// cache and must not be modified.
func (c *Cache) Hooks(accountID string) []store.Hook {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.view[accountID]
}

// Lookup returns the enabled hooks of accountID once the cache has
// received every notice stored before the call and applied the account's
// announced reload, waiting at most Deps.PendingWait (or until ctx ends);
// past that it logs and returns the view at hand. The slice must not be
// modified.
func (c *Cache) Lookup(ctx context.Context, accountID string) []store.Hook {
	waitCtx, cancel := context.WithTimeout(ctx, c.deps.PendingWait)
	defer cancel()
	if c.newest != nil {
		newest, err := c.newest.read(waitCtx)
		if err != nil {
			c.giveUp(ctx, accountID, "cannot read the newest hook change", err)
			return c.Hooks(accountID)
		}
		if !c.receivedThrough(waitCtx, newest) {
			c.giveUp(ctx, accountID, "hook change notices not received yet", waitCtx.Err())
			return c.Hooks(accountID)
		}
	}
	c.pendingMu.Lock()
	r := c.unapplied[accountID]
	c.pendingMu.Unlock()
	if r != nil {
		if c.onWait != nil {
			c.onWait(accountID)
		}
		select {
		case <-r.applied:
		case <-waitCtx.Done():
			c.giveUp(ctx, accountID, "hook reload still pending", waitCtx.Err())
		}
	}
	return c.Hooks(accountID)
}

// giveUp logs that an event is matched against a view that may be stale: a
// NATS or database outage must slow an account's events down, not stop
// them.
func (c *Cache) giveUp(ctx context.Context, accountID, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	c.deps.Log.WarnContext(ctx, what+"; matching against the previous view",
		telemetry.KeyAccountID, accountID, "waited", c.deps.PendingWait.String(), telemetry.KeyError, err)
}

// receivedThrough waits until the notice with stream sequence seq (and so
// every earlier one) has been taken on; false when ctx ended first.
func (c *Cache) receivedThrough(ctx context.Context, seq uint64) bool {
	for {
		c.pendingMu.Lock()
		received, advanced := c.received, c.advanced
		c.pendingMu.Unlock()
		if received >= seq {
			return true
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return false
		}
	}
}

// Start reads where the HOOK_CHANGES stream ends, starts reading notices
// from just after it, and then loads every enabled hook. Reading first means
// a change made while the load runs is reloaded afterwards, not lost. Run
// must be called to apply notices.
func (c *Cache) Start(ctx context.Context) error {
	stream, err := c.deps.JS.Stream(ctx, bus.StreamHookChanges)
	if err != nil {
		return fmt.Errorf("hook change stream: %w", err)
	}
	nc := c.deps.JS.Conn()
	last, err := bus.LatestHookChange(ctx, nc)
	if err != nil {
		return err
	}
	c.received = last
	c.newest = &sharedRead{read1: func(ctx context.Context) (uint64, error) {
		ctx, cancel := context.WithTimeout(ctx, newestReadTimeout)
		defer cancel()
		return bus.LatestHookChange(ctx, nc)
	}}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{bus.HooksChangedAll},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    last + 1,
	})
	if err != nil {
		return fmt.Errorf("read hook changes: %w", err)
	}
	if c.notices, err = cons.Consume(c.onNotice); err != nil {
		return fmt.Errorf("read hook changes: %w", err)
	}
	if err := c.LoadAll(ctx); err != nil {
		c.notices.Stop()
		return err
	}
	return nil
}

// Run applies change notices and periodic full reloads until ctx ends. A
// failed reload is logged and retried on the next notice or resync; the old
// view stays in use meanwhile.
func (c *Cache) Run(ctx context.Context) error {
	defer func() {
		if c.notices != nil {
			c.notices.Stop()
		}
	}()
	ticker := time.NewTicker(c.deps.ResyncInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
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

// onNotice takes one notice, in stream order: it marks the account pending
// before it counts the notice as received, so a Lookup that sees the
// sequence also sees the pending reload.
func (c *Cache) onNotice(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.deps.Log.Warn("hook change notice without metadata", telemetry.KeySubject, msg.Subject(), telemetry.KeyError, err)
		return
	}
	accountID, err := bus.HooksChangedAccount(msg.Subject())
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	if err != nil {
		c.deps.Log.Warn("ignoring hook change notice", telemetry.KeySubject, msg.Subject(), telemetry.KeyError, err)
	} else {
		if _, ok := c.queued[accountID]; !ok {
			r := &reload{applied: make(chan struct{})}
			c.queued[accountID] = r
			c.unapplied[accountID] = r
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	if seq := md.Sequence.Stream; seq > c.received {
		c.received = seq
		close(c.advanced)
		c.advanced = make(chan struct{})
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
