package event

import (
	"slices"

	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// Selection is what a hook selects: its type and filters. It is the one
// definition of which events a hook hears, shared by the matcher (which
// delivers) and the API's filter preview (which shows what a hook document
// would have heard), so the two can never disagree.
type Selection struct {
	// Hook is the hook type (HookTypes).
	Hook                string
	IncludeInternalLegs bool
	// Empty filters mean any value.
	CallTypes    []string
	CallStatuses []string
	MediaTypes   []string
}

// Matches reports whether a hook selecting s must receive ev. A hook of an
// unknown type matches nothing, so a type added to the API before the
// matcher knows it stays silent instead of receiving everything.
func (s *Selection) Matches(ev *pbxhooksv1.Event) bool {
	if ev.GetIsInternalLeg() && !s.IncludeInternalLegs {
		return false
	}
	switch ev.GetKind() {
	case KindCall:
		return s.matchesCall(ev)
	case KindMedia:
		return s.Hook == HookMedia && anyOrContains(s.MediaTypes, ev.GetMedia().GetType())
	default:
		return false
	}
}

func (s *Selection) matchesCall(ev *pbxhooksv1.Event) bool {
	switch s.Hook {
	case HookAll:
		return true
	case HookCall:
		// A status-less event (a losing ring-group leg's hangup) is not a
		// Spoke call event at all; it only reaches Kazoo lifecycle hooks.
		status := ev.GetStatus()
		if status == "" || status == StatusNone {
			return false
		}
		return anyOrContains(s.CallTypes, ev.GetCallType()) && anyOrContains(s.CallStatuses, status)
	case HookMedia:
		return false
	default:
		return IsLifecycle(s.Hook) && s.Hook == ev.GetLifecycle()
	}
}

// anyOrContains treats an empty filter as "any value".
func anyOrContains(filter []string, v string) bool {
	return len(filter) == 0 || slices.Contains(filter, v)
}
