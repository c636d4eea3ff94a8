package bus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

func TestHooksChangedAccount(t *testing.T) {
	t.Parallel()
	if got, err := bus.HooksChangedAccount(bus.HooksChangedSubject("acct1")); err != nil || got != "acct1" {
		t.Errorf("round trip: %q, %v; want acct1", got, err)
	}
	for _, subject := range []string{
		"hooks.changed.", "hooks.changed", "hooks.disabled.acct1", "events.acct1.call.incoming_call.ringing",
		"hooks.changed.a.b", "hooks.changed.a b", "", "hooks.changed." + strings.Repeat("a", 1000),
	} {
		if got, err := bus.HooksChangedAccount(subject); err == nil {
			t.Errorf("HooksChangedAccount(%q) = %q, want an error", subject, got)
		}
	}
}

func FuzzHooksChangedAccount(f *testing.F) {
	for _, seed := range []string{"hooks.changed.acct1", "hooks.changed.", "hooks.changed.a.b", "x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		accountID, err := bus.HooksChangedAccount(subject)
		if err != nil {
			return
		}
		if event.ValidateAccountID(accountID) != nil {
			t.Fatalf("%q gave invalid account id %q", subject, accountID)
		}
		if bus.HooksChangedSubject(accountID) != subject {
			t.Fatalf("%q gave %q, which names another subject", subject, accountID)
		}
	})
}

func TestDeliveryAndEventIDs(t *testing.T) {
	t.Parallel()
	if got := bus.DeliveryID("ev1", "hook1"); got != "ev1:hook1" {
		t.Errorf("DeliveryID = %q, want ev1:hook1", got)
	}
	if got := bus.EventMsgID("acct1", "ev1"); got != "acct1/ev1" {
		t.Errorf("EventMsgID = %q, want acct1/ev1", got)
	}
}

func TestEventSubject(t *testing.T) {
	t.Parallel()
	call := &pbxhooksv1.Event{Id: "e1", AccountId: "acct1", Kind: event.KindCall,
		CallType: event.CallTypeIncoming, Status: event.StatusRinging}
	if got, err := bus.EventSubject(call); err != nil || got != "events.acct1.call.incoming_call.ringing" {
		t.Errorf("call event: %q, %v", got, err)
	}
	media := &pbxhooksv1.Event{Id: "e2", AccountId: "acct1", Kind: event.KindMedia,
		Media: &pbxhooksv1.Media{Type: event.MediaVoicemail}}
	if got, err := bus.EventSubject(media); err != nil || got != "events.acct1.media.voicemail" {
		t.Errorf("media event: %q, %v", got, err)
	}
	for name, ev := range map[string]*pbxhooksv1.Event{
		"unknown kind":   {Id: "e3", AccountId: "acct1", Kind: "fax"},
		"no id":          {AccountId: "acct1", Kind: event.KindCall, CallType: event.CallTypeIncoming, Status: event.StatusRinging},
		"bad account":    {Id: "e4", AccountId: "a.b", Kind: event.KindCall, CallType: event.CallTypeIncoming, Status: event.StatusRinging},
		"bad media type": {Id: "e5", AccountId: "acct1", Kind: event.KindMedia, Media: &pbxhooksv1.Media{Type: "fax"}},
	} {
		if _, err := bus.EventSubject(ev); !errors.Is(err, bus.ErrUnroutable) {
			t.Errorf("%s: error %v, want ErrUnroutable", name, err)
		}
	}
}
