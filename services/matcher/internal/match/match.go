// Package match decides which of an account's hooks hear about an event.
// It is pure: no I/O, no clock, so every rule is a table test.
package match

import (
	"slices"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// Matches reports whether hook h must receive ev. A hook of an unknown type
// matches nothing, so a type added to the API before the matcher knows it
// stays silent instead of receiving everything.
func Matches(h *store.Hook, ev *pbxhooksv1.Event) bool {
	if ev.GetIsInternalLeg() && !h.IncludeInternalLegs {
		return false
	}
	switch ev.GetKind() {
	case event.KindCall:
		return matchesCall(h, ev)
	case event.KindMedia:
		return h.Hook == event.HookMedia && anyOrContains(h.MediaTypes, ev.GetMedia().GetType())
	default:
		return false
	}
}

func matchesCall(h *store.Hook, ev *pbxhooksv1.Event) bool {
	switch h.Hook {
	case event.HookAll:
		return true
	case event.HookCall:
		// A status-less event (a losing ring-group leg's hangup) is not a
		// Spoke call event at all; it only reaches Kazoo lifecycle hooks.
		status := ev.GetStatus()
		if status == "" || status == event.StatusNone {
			return false
		}
		return anyOrContains(h.CallTypes, ev.GetCallType()) && anyOrContains(h.CallStatuses, status)
	case event.HookMedia:
		return false
	default:
		return event.IsLifecycle(h.Hook) && h.Hook == ev.GetLifecycle()
	}
}

// anyOrContains treats an empty filter as "any value".
func anyOrContains(filter []string, v string) bool {
	return len(filter) == 0 || slices.Contains(filter, v)
}

// Select returns the hooks among hooks that must receive ev, in their
// original order. The cost is one Matches call per hook of the account.
func Select(hooks []store.Hook, ev *pbxhooksv1.Event) []*store.Hook {
	var out []*store.Hook
	for i := range hooks {
		if Matches(&hooks[i], ev) {
			out = append(out, &hooks[i])
		}
	}
	return out
}
