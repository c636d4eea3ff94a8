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

func TestMatches(t *testing.T) {
	t.Parallel()
	create := callEvent(event.LifecycleChannelCreate, event.CallTypeIncoming, event.StatusRinging, false)
	answer := callEvent(event.LifecycleChannelAnswer, event.CallTypeOutgoing, event.StatusAnswered, false)
	destroyNone := callEvent(event.LifecycleChannelDestroy, event.CallTypeIncoming, event.StatusNone, false)
	internalCreate := callEvent(event.LifecycleChannelCreate, event.CallTypeIncoming, event.StatusRinging, true)
	voicemail := mediaEvent(event.MediaVoicemail)
	recording := mediaEvent(event.MediaCallRecording)

	tests := []struct {
		name string
		hook store.Hook
		ev   *pbxhooksv1.Event
		want bool
	}{
		{"lifecycle hook hears its lifecycle", store.Hook{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true}, create, true},
		{"lifecycle hook ignores other lifecycles", store.Hook{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true}, answer, false},
		{"lifecycle hook hears status-less events", store.Hook{Hook: event.LifecycleChannelDestroy, IncludeInternalLegs: true}, destroyNone, true},
		{"lifecycle hook ignores media", store.Hook{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true}, voicemail, false},
		{"all hears create", store.Hook{Hook: event.HookAll, IncludeInternalLegs: true}, create, true},
		{"all hears status-less destroy", store.Hook{Hook: event.HookAll, IncludeInternalLegs: true}, destroyNone, true},
		{"all ignores media", store.Hook{Hook: event.HookAll, IncludeInternalLegs: true}, voicemail, false},
		{"call with empty filters hears any status", store.Hook{Hook: event.HookCall, IncludeInternalLegs: true}, answer, true},
		{"call never hears status none", store.Hook{Hook: event.HookCall, IncludeInternalLegs: true}, destroyNone, false},
		{"call filtered by type matches", store.Hook{Hook: event.HookCall, CallTypes: []string{event.CallTypeIncoming}, IncludeInternalLegs: true}, create, true},
		{"call filtered by type rejects", store.Hook{Hook: event.HookCall, CallTypes: []string{event.CallTypeIncoming}, IncludeInternalLegs: true}, answer, false},
		{"call filtered by status matches", store.Hook{Hook: event.HookCall, CallStatuses: []string{event.StatusRinging, event.StatusMissed}, IncludeInternalLegs: true}, create, true},
		{"call filtered by status rejects", store.Hook{Hook: event.HookCall, CallStatuses: []string{event.StatusMissed}, IncludeInternalLegs: true}, create, false},
		{"call with both filters needs both", store.Hook{Hook: event.HookCall, CallTypes: []string{event.CallTypeOutgoing}, CallStatuses: []string{event.StatusRinging}, IncludeInternalLegs: true}, create, false},
		{"call ignores media", store.Hook{Hook: event.HookCall, IncludeInternalLegs: true}, voicemail, false},
		{"media with empty filter hears voicemail", store.Hook{Hook: event.HookMedia, IncludeInternalLegs: true}, voicemail, true},
		{"media filtered matches", store.Hook{Hook: event.HookMedia, MediaTypes: []string{event.MediaCallRecording}, IncludeInternalLegs: true}, recording, true},
		{"media filtered rejects", store.Hook{Hook: event.HookMedia, MediaTypes: []string{event.MediaCallRecording}, IncludeInternalLegs: true}, voicemail, false},
		{"media ignores call events", store.Hook{Hook: event.HookMedia, IncludeInternalLegs: true}, create, false},
		{"internal leg dropped when excluded", store.Hook{Hook: event.HookAll, IncludeInternalLegs: false}, internalCreate, false},
		{"internal leg kept when included", store.Hook{Hook: event.HookAll, IncludeInternalLegs: true}, internalCreate, true},
		{"external leg kept when internal excluded", store.Hook{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: false}, create, true},
		{"unknown hook type matches nothing", store.Hook{Hook: "object", IncludeInternalLegs: true}, create, false},
		{"unknown event kind matches nothing", store.Hook{Hook: event.HookAll, IncludeInternalLegs: true}, &pbxhooksv1.Event{Kind: "fax"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Matches(&tt.hook, tt.ev); got != tt.want {
				t.Errorf("Matches(hook %q, event %s/%s/%s) = %v, want %v", tt.hook.Hook, tt.ev.GetKind(), tt.ev.GetLifecycle(), tt.ev.GetStatus(), got, tt.want)
			}
		})
	}
}

func TestSelectKeepsOrderAndOnlyMatches(t *testing.T) {
	t.Parallel()
	hooks := []store.Hook{
		{ID: "a", Hook: event.HookAll, IncludeInternalLegs: true},
		{ID: "b", Hook: event.HookMedia, IncludeInternalLegs: true},
		{ID: "c", Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true},
		{ID: "d", Hook: event.LifecycleChannelAnswer, IncludeInternalLegs: true},
	}
	got := Select(hooks, callEvent(event.LifecycleChannelCreate, event.CallTypeIncoming, event.StatusRinging, false))
	var ids []string
	for _, h := range got {
		ids = append(ids, h.ID)
	}
	if len(ids) != 2 || ids[0] != "a" || ids[1] != "c" {
		t.Fatalf("Select = %v, want [a c]", ids)
	}
	if Select(nil, mediaEvent(event.MediaVoicemail)) != nil {
		t.Fatal("Select over no hooks returned hooks")
	}
}
