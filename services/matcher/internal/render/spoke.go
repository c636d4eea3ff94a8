package render

import (
	"fmt"

	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// spokeTimeLayout is Spoke's timestamp form: 2023-11-14T21:45:22.000000Z.
const spokeTimeLayout = "2006-01-02T15:04:05.000000Z"

// SpokeCallPayload returns what Spoke's call webhooks send: the call's
// parties by number (not SIP URI) and name, type = call type, subtype = the
// call status. id is the call (leg) id, so a receiver can follow one call
// through its statuses; the event id when a PBX sent no call id.
func SpokeCallPayload(ev *pbxhooksv1.Event) map[string]any {
	p := spokeCommon(ev)
	putString(p, "type", ev.GetCallType())
	putString(p, "subtype", ev.GetStatus())
	return p
}

// SpokeMediaPayload returns what Spoke's media webhooks send: the call's
// details, type = media type, the file's name and content type, and in
// attachments a signed download link valid for the linker's TTL. An event
// without a media id (the matcher drops the id of a file the account does
// not own) gets no attachments.
func SpokeMediaPayload(ev *pbxhooksv1.Event, links *medialink.Linker) (map[string]any, error) {
	media := ev.GetMedia()
	p := spokeCommon(ev)
	putString(p, "type", media.GetType())
	putString(p, "filename", media.GetFilename())
	putString(p, "content_type", media.GetContentType())
	if media.GetMediaId() == "" {
		return p, nil
	}
	link, err := links.Link(media.GetMediaId(), ev.GetAccountId())
	if err != nil {
		return nil, fmt.Errorf("media link: %w", err)
	}
	p["attachments"] = link
	return p, nil
}

func spokeCommon(ev *pbxhooksv1.Event) map[string]any {
	p := map[string]any{}
	id := ev.GetCallId()
	if id == "" {
		id = ev.GetId()
	}
	putString(p, "id", id)
	// Spoke always sends thread_id; a PBX that does not group legs into
	// threads gets one thread per call.
	thread := ev.GetThreadId()
	if thread == "" {
		thread = ev.GetCallId()
	}
	putString(p, "thread_id", thread)
	putString(p, "to", userPart(ev.GetTo()))
	putString(p, "from", userPart(ev.GetFrom()))
	putString(p, "to_name", ev.GetToName())
	putString(p, "from_name", ev.GetFromName())
	if ts, ok := occurredAt(ev); ok {
		p["timestamp"] = ts.UTC().Format(spokeTimeLayout)
	}
	return p
}
