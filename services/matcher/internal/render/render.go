// Package render turns an event into the HTTP request one hook receives. The
// payload is rendered once, by the matcher, and carried in the Delivery, so
// every retry sends the same bytes.
//
// The walking skeleton renders every hook as a Kazoo-style JSON POST. Issue 5
// adds the Spoke payloads and Kazoo's http_verb/format encodings behind the
// same Render function.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// gregorianOffset is the number of seconds from year 0 (Erlang's Gregorian
// calendar, which Kazoo timestamps count from) to the Unix epoch.
const gregorianOffset = 62167219200

// ContentTypeJSON is the content type of JSON payloads.
const ContentTypeJSON = "application/json"

// ErrBadCustomData is returned when a hook's custom_data is not a JSON
// object; retrying cannot fix it, only editing the hook can.
var ErrBadCustomData = errors.New("custom_data is not a JSON object")

// Render returns the request hook h receives for ev. An error means this hook
// cannot be rendered for this event (the same input would fail again).
func Render(h *store.Hook, ev *pbxhooksv1.Event) (method, url, contentType string, body []byte, err error) {
	payload := KazooPayload(ev)
	if err := mergeCustomData(payload, h.CustomData); err != nil {
		return "", "", "", nil, fmt.Errorf("render hook %s: %w", h.ID, err)
	}
	body, err = json.Marshal(payload)
	if err != nil {
		return "", "", "", nil, fmt.Errorf("render hook %s: encode JSON: %w", h.ID, err)
	}
	return "POST", h.Uri, ContentTypeJSON, body, nil
}

// KazooPayload returns the fields Kazoo's webhooks send for ev. Fields the
// event does not know are left out rather than sent empty or null, as Kazoo
// does.
func KazooPayload(ev *pbxhooksv1.Event) map[string]any {
	p := map[string]any{
		"account_id":      ev.GetAccountId(),
		"is_internal_leg": ev.GetIsInternalLeg(),
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
	if vars := ev.GetCustomChannelVars(); len(vars) > 0 {
		p["custom_channel_vars"] = vars
	}

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
		media := ev.GetMedia()
		putString(p, "hook_event", media.GetType())
		putString(p, "media_id", media.GetMediaId())
		putString(p, "filename", media.GetFilename())
		putString(p, "content_type", media.GetContentType())
	}

	if ts, ok := occurredAt(ev); ok {
		// Kazoo sends Gregorian seconds as a string.
		p["timestamp"] = strconv.FormatInt(ts.Unix()+gregorianOffset, 10)
	}
	return p
}

func occurredAt(ev *pbxhooksv1.Event) (time.Time, bool) {
	if ts := ev.GetOccurredAt(); ts != nil {
		return ts.AsTime(), true
	}
	if ts := ev.GetReceivedAt(); ts != nil {
		return ts.AsTime(), true
	}
	return time.Time{}, false
}

// mergeCustomData copies the hook's custom_data over the payload's top level:
// a customer's value wins over the event's field of the same name.
func mergeCustomData(payload map[string]any, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	// UseNumber keeps large integers exact instead of rounding them through
	// float64.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var custom map[string]any
	if err := dec.Decode(&custom); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCustomData, err)
	}
	for k, v := range custom {
		payload[k] = v
	}
	return nil
}

func putString(p map[string]any, key, value string) {
	if value != "" {
		p[key] = value
	}
}

// userPart is the number in "number@realm", as Kazoo's caller/callee id
// numbers are; a value without a realm is returned whole.
func userPart(sipURI string) string {
	user, _, _ := strings.Cut(sipURI, "@")
	return user
}
