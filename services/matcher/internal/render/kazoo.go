package render

import (
	"strconv"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// gregorianOffset is the number of seconds from year 0 (Erlang's Gregorian
// calendar, which Kazoo timestamps count from) to the Unix epoch.
const gregorianOffset = 62167219200

// KazooPayload returns the fields Kazoo's channel webhooks send for ev
// (webhooks_channel_util:base_hook_event). Fields the event does not know
// are left out rather than sent empty or null, as Kazoo does; the fields
// only Kazoo itself can know (authorizing_id, owner_id, reseller_id, its
// resource and application variables) are never sent.
func KazooPayload(ev *pbxhooksv1.Event) map[string]any {
	vars := ev.GetCustomChannelVars()
	if vars == nil {
		// Kazoo always sends the object, empty when there is nothing.
		vars = map[string]string{}
	}
	p := map[string]any{
		"account_id":          ev.GetAccountId(),
		"is_internal_leg":     ev.GetIsInternalLeg(),
		"custom_channel_vars": vars,
	}
	putString(p, "call_direction", ev.GetDirection())
	putString(p, "call_id", ev.GetCallId())
	putString(p, "other_leg_call_id", ev.GetOtherLegCallId())
	putString(p, "caller_id_name", ev.GetFromName())
	putString(p, "caller_id_number", userPart(ev.GetFrom()))
	putString(p, "callee_id_name", ev.GetToName())
	putString(p, "callee_id_number", userPart(ev.GetTo()))
	putString(p, "from", ev.GetFrom())
	putString(p, "to", ev.GetTo())
	putString(p, "request", ev.GetRequest())
	putString(p, "inception", ev.GetInception())

	switch ev.GetKind() {
	case event.KindCall:
		putString(p, "hook_event", ev.GetLifecycle())
		if ev.GetLifecycle() == event.LifecycleChannelDestroy && ev.GetHangup() != nil {
			hangup := ev.GetHangup()
			putString(p, "hangup_cause", hangup.GetCause())
			putString(p, "hangup_code", hangup.GetCode())
			p["duration_seconds"] = hangup.GetDurationSeconds()
			p["billing_seconds"] = hangup.GetBillingSeconds()
			p["ringing_seconds"] = hangup.GetRingingSeconds()
		}
	case event.KindMedia:
		// Kazoo has no media webhook; a media event only reaches a Kazoo
		// payload through a test event, and then says what it is.
		media := ev.GetMedia()
		putString(p, "hook_event", media.GetType())
		putString(p, "media_id", media.GetMediaId())
		putString(p, "filename", media.GetFilename())
		putString(p, "content_type", media.GetContentType())
	}

	if ts, ok := occurredAt(ev); ok {
		// Kazoo's samples write Gregorian seconds as a string.
		p["timestamp"] = strconv.FormatInt(ts.Unix()+gregorianOffset, 10)
	}
	return p
}

// userPart is the number in "number@realm", as Kazoo's caller/callee id
// numbers are; a value without a realm is returned whole.
func userPart(sipURI string) string {
	user, _, _ := strings.Cut(sipURI, "@")
	return user
}
