package fanout_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// TestResendRendersTheStoredEventAgainForOneHook: a resend finds the event
// on EVENTS and stores a delivery with the original's id and body, marked
// as a resend, without retries, under a message id of its own; the same
// request again is deduplicated; a missing event or another account's hook
// is NotFound.
func TestResendRendersTheStoredEventAgainForOneHook(t *testing.T) {
	t.Parallel()
	acct, other := newID("acct"), newID("other")
	var hook, foreign store.Hook
	p := startPipeline(t, func(q *store.Queries) {
		hook = createHook(t, q, acct, event.HookAll, func(h *store.InsertHookParams) { h.Retries = 3 })
		foreign = createHook(t, q, other, event.HookAll, nil)
	})
	ev := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEvent(t, ev, bus.EventMsgID(acct, ev.Id)))
	original := p.deliveries(t)
	if len(original) != 1 {
		t.Fatalf("%d deliveries of the event, want 1", len(original))
	}

	req := bus.ResendRequest{AccountID: acct, HookID: hook.ID, EventID: ev.Id, ResendID: "0123456789abcdef", EventStoredBefore: time.Now()}
	if reply := p.fan.Resend(t.Context(), req); reply.Error != "" {
		t.Fatalf("resend: %+v", reply)
	}
	got := p.deliveries(t)
	if len(got) != 2 {
		t.Fatalf("%d deliveries after the resend, want 2", len(got))
	}
	resent := got[1]
	if got[0].d.GetResendId() != "" {
		resent = got[0]
	}
	d := resent.d
	if d.GetId() != original[0].d.GetId() || d.GetResendId() != req.ResendID || d.GetRetries() != 0 ||
		!bytes.Equal(d.GetBody(), original[0].d.GetBody()) || resent.msgID != bus.ResendMsgID(req.ResendID, d.GetId()) {
		t.Fatalf("resent delivery %+v (msg id %s), want the original's id and body as resend %s without retries", d, resent.msgID, req.ResendID)
	}

	if reply := p.fan.Resend(t.Context(), req); reply.Error != "" {
		t.Fatalf("repeated resend: %+v", reply)
	}
	if n := len(p.deliveries(t)); n != 2 {
		t.Fatalf("a repeated resend request made %d deliveries, want still 2", n)
	}

	missing := req
	missing.EventID, missing.ResendID = "no-such-event", "fedcba9876543210"
	if reply := p.fan.Resend(t.Context(), missing); !reply.NotFound {
		t.Errorf("resend of a missing event: %+v, want NotFound", reply)
	}
	stolen := req
	stolen.HookID, stolen.ResendID = foreign.ID, "00112233445566778899"
	if reply := p.fan.Resend(t.Context(), stolen); !reply.NotFound {
		t.Errorf("resend to another account's hook: %+v, want NotFound", reply)
	}
	if n := len(p.deliveries(t)); n != 2 {
		t.Fatalf("refused resends made deliveries: %d, want 2", n)
	}
}
