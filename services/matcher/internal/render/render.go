// Package render turns an event into the HTTP request one hook receives. The
// payload is rendered once, by the matcher, and carried in the Delivery, so
// every retry sends the same bytes; the deliverer sends the request as it is
// and adds only its transport headers (X-Hook-ID, X-Account-ID, signatures).
//
// The payload's shape follows the hook's type: Kazoo's for the channel_*
// lifecycles and `all`, Spoke's for `call` and `media`. The hook's
// custom_data is merged over the payload's top level, then the payload is
// encoded by http_verb and format as Kazoo does (see encode.go).
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// Rendering failures. Each means only editing the hook (or fixing the
// event's producer) can help: the same input fails the same way again.
var (
	// ErrBadCustomData: the hook's custom_data is not a JSON object.
	ErrBadCustomData = errors.New("custom_data is not a JSON object")
	// ErrUnsupportedHook: a hook type, verb or format the renderer does not
	// know.
	ErrUnsupportedHook = errors.New("unsupported hook")
	// ErrNoMediaLinks: a media payload was asked of a Renderer without a
	// link signer.
	ErrNoMediaLinks = errors.New("media links are not configured")
)

// Request is what the deliverer sends for one hook.
type Request struct {
	// Method is GET, POST or PUT.
	Method string
	// URL is the hook's uri; for GET it carries the payload as query string.
	URL string
	// ContentType is empty when there is no body.
	ContentType string
	Body        []byte
}

// Renderer renders hooks' requests. The zero value renders everything but
// media payloads, which need Links.
type Renderer struct {
	// Links signs the download link of media payloads.
	Links *medialink.Linker
}

// Render returns the request hook h receives for ev.
func (r *Renderer) Render(h *store.Hook, ev *pbxhooksv1.Event) (Request, error) {
	payload, err := r.payload(h, ev)
	if err != nil {
		return Request{}, fmt.Errorf("render hook %s: %w", h.ID, err)
	}
	if err := mergeCustomData(payload, h.CustomData); err != nil {
		return Request{}, fmt.Errorf("render hook %s: %w", h.ID, err)
	}
	req, err := encode(h.HttpVerb, h.Format, h.Uri, payload)
	if err != nil {
		return Request{}, fmt.Errorf("render hook %s: %w", h.ID, err)
	}
	return req, nil
}

func (r *Renderer) payload(h *store.Hook, ev *pbxhooksv1.Event) (map[string]any, error) {
	switch {
	case h.Hook == event.HookAll || event.IsLifecycle(h.Hook):
		return KazooPayload(ev), nil
	case h.Hook == event.HookCall:
		return SpokeCallPayload(ev), nil
	case h.Hook == event.HookMedia:
		if r == nil || r.Links == nil {
			return nil, ErrNoMediaLinks
		}
		return SpokeMediaPayload(ev, r.Links)
	default:
		return nil, fmt.Errorf("%w: hook type %q", ErrUnsupportedHook, h.Hook)
	}
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

// occurredAt is when the event happened, or when it was received for PBXs
// that do not say.
func occurredAt(ev *pbxhooksv1.Event) (time.Time, bool) {
	if ts := ev.GetOccurredAt(); ts != nil {
		return ts.AsTime(), true
	}
	if ts := ev.GetReceivedAt(); ts != nil {
		return ts.AsTime(), true
	}
	return time.Time{}, false
}

func putString(p map[string]any, key, value string) {
	if value != "" {
		p[key] = value
	}
}
