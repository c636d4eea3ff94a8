package event_test

import (
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
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

func TestSelectionMatches(t *testing.T) {
	t.Parallel()
	create := callEvent(event.LifecycleChannelCreate, event.CallTypeIncoming, event.StatusRinging, false)
	answer := callEvent(event.LifecycleChannelAnswer, event.CallTypeOutgoing, event.StatusAnswered, false)
	destroyNone := callEvent(event.LifecycleChannelDestroy, event.CallTypeIncoming, event.StatusNone, false)
	internalCreate := callEvent(event.LifecycleChannelCreate, event.CallTypeIncoming, event.StatusRinging, true)
	voicemail := mediaEvent(event.MediaVoicemail)
	recording := mediaEvent(event.MediaCallRecording)

	tests := []struct {
		name string
		hook event.Selection
		ev   *pbxhooksv1.Event
		want bool
	}{
		{"lifecycle hook hears its lifecycle", event.Selection{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true}, create, true},
		{"lifecycle hook ignores other lifecycles", event.Selection{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true}, answer, false},
		{"lifecycle hook hears status-less events", event.Selection{Hook: event.LifecycleChannelDestroy, IncludeInternalLegs: true}, destroyNone, true},
		{"lifecycle hook ignores media", event.Selection{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: true}, voicemail, false},
		{"all hears create", event.Selection{Hook: event.HookAll, IncludeInternalLegs: true}, create, true},
		{"all hears status-less destroy", event.Selection{Hook: event.HookAll, IncludeInternalLegs: true}, destroyNone, true},
		{"all ignores media", event.Selection{Hook: event.HookAll, IncludeInternalLegs: true}, voicemail, false},
		{"call with empty filters hears any status", event.Selection{Hook: event.HookCall, IncludeInternalLegs: true}, answer, true},
		{"call never hears status none", event.Selection{Hook: event.HookCall, IncludeInternalLegs: true}, destroyNone, false},
		{"call filtered by type matches", event.Selection{Hook: event.HookCall, CallTypes: []string{event.CallTypeIncoming}, IncludeInternalLegs: true}, create, true},
		{"call filtered by type rejects", event.Selection{Hook: event.HookCall, CallTypes: []string{event.CallTypeIncoming}, IncludeInternalLegs: true}, answer, false},
		{"call filtered by status matches", event.Selection{Hook: event.HookCall, CallStatuses: []string{event.StatusRinging, event.StatusMissed}, IncludeInternalLegs: true}, create, true},
		{"call filtered by status rejects", event.Selection{Hook: event.HookCall, CallStatuses: []string{event.StatusMissed}, IncludeInternalLegs: true}, create, false},
		{"call with both filters needs both", event.Selection{Hook: event.HookCall, CallTypes: []string{event.CallTypeOutgoing}, CallStatuses: []string{event.StatusRinging}, IncludeInternalLegs: true}, create, false},
		{"call ignores media", event.Selection{Hook: event.HookCall, IncludeInternalLegs: true}, voicemail, false},
		{"media with empty filter hears voicemail", event.Selection{Hook: event.HookMedia, IncludeInternalLegs: true}, voicemail, true},
		{"media filtered matches", event.Selection{Hook: event.HookMedia, MediaTypes: []string{event.MediaCallRecording}, IncludeInternalLegs: true}, recording, true},
		{"media filtered rejects", event.Selection{Hook: event.HookMedia, MediaTypes: []string{event.MediaCallRecording}, IncludeInternalLegs: true}, voicemail, false},
		{"media ignores call events", event.Selection{Hook: event.HookMedia, IncludeInternalLegs: true}, create, false},
		{"internal leg dropped when excluded", event.Selection{Hook: event.HookAll, IncludeInternalLegs: false}, internalCreate, false},
		{"internal leg kept when included", event.Selection{Hook: event.HookAll, IncludeInternalLegs: true}, internalCreate, true},
		{"external leg kept when internal excluded", event.Selection{Hook: event.LifecycleChannelCreate, IncludeInternalLegs: false}, create, true},
		{"unknown hook type matches nothing", event.Selection{Hook: "object", IncludeInternalLegs: true}, create, false},
		{"unknown event kind matches nothing", event.Selection{Hook: event.HookAll, IncludeInternalLegs: true}, &pbxhooksv1.Event{Kind: "fax"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.hook.Matches(tt.ev); got != tt.want {
				t.Errorf("Matches(hook %q, event %s/%s/%s) = %v, want %v", tt.hook.Hook, tt.ev.GetKind(), tt.ev.GetLifecycle(), tt.ev.GetStatus(), got, tt.want)
			}
		})
	}
}
