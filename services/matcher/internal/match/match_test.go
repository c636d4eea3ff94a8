package match

import (
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

func callEvent(lifecycle, callType, status string, internal bool) *pbxhooksv1.Event {
	return &pbxhooksv1.Event{
		Id: "e1", AccountId: "acct", Kind: event.KindCall,
		Lifecycle: lifecycle, CallType: callType, Status: status, IsInternalLeg: internal,
	}
}

func mediaEvent(mediaType string) *pbxhooksv1.Event {
	return &pbxhooksv1.Event{
		Id: "e2", AccountId: "acct", Kind: event.KindMedia,
		Media: &pbxhooksv1.Media{Type: mediaType},
	}
}

// The rule's table test is event's (TestSelectionMatches); here, that the
// stored hook's fields reach it and Select keeps order.
func TestSelectKeepsOrderAndOnlyMatches(t *testing.T) {
	t.Parallel()
	hooks := []store.Hook{
		{ID: "a", Hook: event.HookAll, IncludeInternalLegs: true},
		{ID: "b", Hook: event.HookMedia, IncludeInternalLegs: true},
		{ID: "c", Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true},
		{ID: "d", Hook: event.LifecycleChannelAnswer, IncludeInternalLegs: true},
		{ID: "e", Hook: event.HookCall, CallStatuses: []string{event.StatusMissed}, IncludeInternalLegs: true},
		{ID: "f", Hook: event.HookCall, CallTypes: []string{event.CallTypeIncoming}, CallStatuses: []string{event.StatusRinging}},
	}
	got := Select(hooks, callEvent(event.LifecycleChannelCreate, event.CallTypeIncoming, event.StatusRinging, false))
	var ids []string
	for _, h := range got {
		ids = append(ids, h.ID)
	}
	if len(ids) != 3 || ids[0] != "a" || ids[1] != "c" || ids[2] != "f" {
		t.Fatalf("Select = %v, want [a c f]", ids)
	}
	if Select(nil, mediaEvent(event.MediaVoicemail)) != nil {
		t.Fatal("Select over no hooks returned hooks")
	}
}
