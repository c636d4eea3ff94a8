package fanout_test

import (
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// TestTestEventReachesOnlyItsHook: an event carrying the test-hook header is
// delivered to that hook alone, even when it is disabled or of a type the
// event would not match, and to no other hook of the account.
func TestTestEventReachesOnlyItsHook(t *testing.T) {
	t.Parallel()
	acct, other := newID("acct"), newID("other")
	var disabled, foreign store.Hook
	p := startPipeline(t, func(q *store.Queries) {
		createHook(t, q, acct, event.HookAll, nil)
		createHook(t, q, acct, event.LifecycleChannelCreate, nil)
		disabled = createHook(t, q, acct, event.LifecycleChannelDestroy, func(h *store.InsertHookParams) { h.Enabled = false })
		foreign = createHook(t, q, other, event.HookAll, nil)
	})

	ev := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEventWithHeader(t, ev, ev.Id, bus.HeaderTestHookID, disabled.ID))
	got := p.deliveries(t)
	if len(got) != 1 || got[0].d.HookId != disabled.ID || got[0].d.Id != ev.Id+":"+disabled.ID {
		t.Fatalf("test event deliveries = %+v, want exactly one for hook %s", got, disabled.ID)
	}
	if got[0].subject != "deliveries."+acct+"."+disabled.ID {
		t.Fatalf("test delivery subject = %s", got[0].subject)
	}

	// A test event naming another account's hook, or a hook that does not
	// exist, reaches nobody; the event is terminated, not retried.
	stolen := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEventWithHeader(t, stolen, stolen.Id, bus.HeaderTestHookID, foreign.ID))
	missing := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEventWithHeader(t, missing, missing.Id, bus.HeaderTestHookID, "hk_does_not_exist"))
	invalid := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEventWithHeader(t, invalid, invalid.Id, bus.HeaderTestHookID, "no.such>hook"))
	if again := p.deliveries(t); len(again) != 1 {
		t.Fatalf("after test events for foreign, missing and invalid hooks there are %d deliveries, want still 1: %+v", len(again), again)
	}
}

// TestHookCreatedJustBeforeAnEventHearsIt is the end-to-end race: the API
// creates a hook, announces it, and an event follows at once. The event must
// not be matched against the view from before the change.
func TestHookCreatedJustBeforeAnEventHearsIt(t *testing.T) {
	t.Parallel()
	acct := newID("acct")
	p := startPipeline(t, func(q *store.Queries) {
		if err := q.EnsureAccount(t.Context(), acct); err != nil {
			t.Fatalf("ensure account: %v", err)
		}
	})
	hook := createHook(t, p.q, acct, event.HookAll, nil)
	if err := bus.PublishHookChange(t.Context(), p.js, bus.HookChange{AccountID: acct, HookID: hook.ID, Change: "created"}, nil); err != nil {
		t.Fatalf("publish hooks.changed: %v", err)
	}
	// No wait for the reload: the event is published right away.
	ev := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEvent(t, ev, ev.Id))
	got := p.deliveries(t)
	if len(got) != 1 || got[0].d.HookId != hook.ID {
		t.Fatalf("deliveries = %+v, want one for the hook created just before the event", got)
	}
}
