package status

import (
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

func TestDerive(t *testing.T) {
	t.Parallel()
	in, out := event.CallTypeIncoming, event.CallTypeOutgoing
	tests := []struct {
		name string
		call Call
		want string
	}{
		{"create rings", Call{Lifecycle: event.LifecycleChannelCreate, CallType: in}, event.StatusRinging},
		{"outgoing create rings", Call{Lifecycle: event.LifecycleChannelCreate, CallType: out}, event.StatusRinging},
		{"answer", Call{Lifecycle: event.LifecycleChannelAnswer, CallType: in}, event.StatusAnswered},
		{"bridge", Call{Lifecycle: event.LifecycleChannelBridge, CallType: out}, event.StatusAnswered},
		{"answered hangup ends", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, Answered: true, HangupCause: "NORMAL_CLEARING"}, event.StatusEnded},
		{"answered wins over busy cause", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, Answered: true, HangupCause: "USER_BUSY"}, event.StatusEnded},
		{"busy", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "USER_BUSY"}, event.StatusBusy},
		{"busy lower case", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: out, HangupCause: " user_busy "}, event.StatusBusy},
		{"no answer", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: out, HangupCause: "NO_ANSWER"}, event.StatusNoAnswer},
		{"no user response", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "NO_USER_RESPONSE"}, event.StatusNoAnswer},
		{"rejected", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "CALL_REJECTED"}, event.StatusRejected},
		{"incoming caller gave up is missed", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "ORIGINATOR_CANCEL"}, event.StatusMissed},
		{"outgoing caller gave up is no answer", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: out, HangupCause: "ORIGINATOR_CANCEL"}, event.StatusNoAnswer},
		{"unknown unanswered cause", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in, HangupCause: "NORMAL_CLEARING"}, event.StatusNoAnswer},
		{"no cause unanswered", Call{Lifecycle: event.LifecycleChannelDestroy, CallType: in}, event.StatusNoAnswer},
		{"unknown lifecycle", Call{Lifecycle: "channel_park", CallType: in}, event.StatusNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Derive(tt.call); got != tt.want {
				t.Errorf("Derive(%+v) = %q, want %q", tt.call, got, tt.want)
			}
		})
	}
}
