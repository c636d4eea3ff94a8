// Package match decides which of an account's hooks hear about an event.
// It is pure: no I/O, no clock, so every rule is a table test. The rule
// itself is event.Selection's, shared with the API's filter preview.
package match

import (
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// Selection is what the stored hook h selects.
func Selection(h *store.Hook) event.Selection {
	return event.Selection{
		Hook: h.Hook, IncludeInternalLegs: h.IncludeInternalLegs,
		CallTypes: h.CallTypes, CallStatuses: h.CallStatuses, MediaTypes: h.MediaTypes,
	}
}

// Matches reports whether hook h must receive ev (event.Selection.Matches).
func Matches(h *store.Hook, ev *pbxhooksv1.Event) bool {
	sel := Selection(h)
	return sel.Matches(ev)
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
