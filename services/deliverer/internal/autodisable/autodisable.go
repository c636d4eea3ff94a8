// Package autodisable turns a hook off when its endpoint keeps failing, the
// way Kazoo does: attempt_failure_count failed attempts within
// attempt_failure_expiry (deployment defaults 6 and 60 s, overridable per
// account in account_delivery_settings) set enabled=false with a
// disable_reason, and the change is announced on hooks.disabled.<account_id>
// and hooks.changed.<account_id> (core NATS) so matchers stop matching it.
// A 410 Gone answer disables the hook at once.
//
// The failure window lives in PostgreSQL (hook_failure_windows), so every
// replica shares it and a restart keeps it: one statement per failed
// attempt, none per success on the hot path. The window is emptied by a
// success seen by a replica that recorded failures for that hook since its
// last reset (a success elsewhere does not cost a statement; the hook's next
// success on the recording replica resets it), and by a new hook revision:
// the API re-enabling a hook bumps its revision, so a re-enabled hook starts
// with an empty window.
package autodisable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/hookstate"
)

// Deployment defaults, Kazoo's.
const (
	DefaultFailureCount  = 6
	DefaultFailureExpiry = 60 * time.Second
)

// ReasonGone is the disable_reason after a 410 answer.
const ReasonGone = "endpoint answered 410 Gone"

// Store is the SQL the tracker needs; *store.Queries implements it.
type Store interface {
	RecordHookFailure(ctx context.Context, arg store.RecordHookFailureParams) (int32, error)
	ResetHookFailures(ctx context.Context, hookID string) error
	DisableHook(ctx context.Context, arg store.DisableHookParams) (store.DisableHookRow, error)
}

// Publisher sends core NATS notices; *nats.Conn implements it.
type Publisher interface {
	Publish(subject string, data []byte) error
}

// Rule is an auto-disable threshold.
type Rule struct {
	Count  int
	Expiry time.Duration
}

// Tracker counts failures and disables hooks.
type Tracker struct {
	db      Store
	notices Publisher
	rule    Rule
	log     *slog.Logger
	now     func() time.Time

	mu sync.Mutex
	// dirty holds the hooks this replica recorded failures for since it
	// last reset their window; only they cost a statement on success.
	dirty map[string]struct{}
}

// New returns a tracker; zero rule fields take the Kazoo defaults.
func New(db Store, notices Publisher, rule Rule, log *slog.Logger, now func() time.Time) *Tracker {
	if rule.Count <= 0 {
		rule.Count = DefaultFailureCount
	}
	if rule.Expiry <= 0 {
		rule.Expiry = DefaultFailureExpiry
	}
	if now == nil {
		now = time.Now
	}
	return &Tracker{db: db, notices: notices, rule: rule, log: log, now: now, dirty: map[string]struct{}{}}
}

// RuleFor is the deployment rule with the account's overrides applied.
func (t *Tracker) RuleFor(h *hookstate.Hook) Rule {
	r := t.rule
	if h.AttemptFailureCount > 0 {
		r.Count = h.AttemptFailureCount
	}
	if h.AttemptFailureExpiry > 0 {
		r.Expiry = h.AttemptFailureExpiry
	}
	return r
}

// Failure records a failed attempt of h at failedAt and disables h when the
// window is full. It reports whether this call disabled the hook.
func (t *Tracker) Failure(ctx context.Context, h *hookstate.Hook, failedAt time.Time) (bool, error) {
	rule := t.RuleFor(h)
	n, err := t.db.RecordHookFailure(ctx, store.RecordHookFailureParams{
		HookID: h.ID, HookRevision: h.Revision, FailedAt: failedAt,
		ExpirySeconds: int32(max(rule.Expiry/time.Second, 1)), Keep: int32(rule.Count),
	})
	if err != nil {
		return false, fmt.Errorf("record failure of hook %s: %w", h.ID, err)
	}
	t.mu.Lock()
	t.dirty[h.ID] = struct{}{}
	t.mu.Unlock()
	if int(n) < rule.Count {
		return false, nil
	}
	reason := fmt.Sprintf("%d failed attempts within %s", rule.Count, rule.Expiry)
	return t.Disable(ctx, h, reason)
}

// Success empties the hook's failure window when this replica recorded
// failures for it since the last reset.
func (t *Tracker) Success(ctx context.Context, hookID string) error {
	t.mu.Lock()
	_, dirty := t.dirty[hookID]
	delete(t.dirty, hookID)
	t.mu.Unlock()
	if !dirty {
		return nil
	}
	if err := t.db.ResetHookFailures(ctx, hookID); err != nil {
		return fmt.Errorf("reset failures of hook %s: %w", hookID, err)
	}
	return nil
}

// Disable turns h off with reason and announces it. It reports false, with
// no notice, when the hook was already disabled (another replica won) or
// is gone.
func (t *Tracker) Disable(ctx context.Context, h *hookstate.Hook, reason string) (bool, error) {
	row, err := t.db.DisableHook(ctx, store.DisableHookParams{ID: h.ID, Reason: reason})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("disable hook %s: %w", h.ID, err)
	}
	t.log.WarnContext(ctx, "hook disabled", telemetry.KeyAccountID, row.AccountID, telemetry.KeyHookID, row.ID, "reason", reason)
	disabled, _ := json.Marshal(bus.HookDisabled{AccountID: row.AccountID, HookID: row.ID, Reason: reason, Revision: row.Revision, DisabledAt: t.now().UTC()})
	change, _ := json.Marshal(bus.HookChange{AccountID: row.AccountID, HookID: row.ID, Change: "disabled", Revision: row.Revision})
	// The change is committed; a lost notice is healed by the matchers'
	// periodic resync, so it is logged rather than returned.
	for subject, body := range map[string][]byte{
		bus.HooksDisabledSubject(row.AccountID): disabled,
		bus.HooksChangedSubject(row.AccountID):  change,
	} {
		if err := t.notices.Publish(subject, body); err != nil {
			t.log.WarnContext(ctx, "publish hook notice", telemetry.KeySubject, subject, telemetry.KeyError, err)
		}
	}
	return true, nil
}
