package native

import (
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// FuzzParse feeds arbitrary bytes to the parser. It must never panic; input
// it rejects must be rejected with a ValidationError; input it accepts must
// give an event that survives the wire (protobuf round trip), routes to a
// valid EVENTS subject, and carries the required fields the input named.
// The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"event":"channel_create","call_id":"c1","direction":"inbound","from":"100","to":"200"}`))
	f.Add([]byte(`{"event":"channel_destroy","id":"x-1","call_id":"c1","hangup_cause":"ORIGINATOR_CANCEL","billing_seconds":0}`))
	f.Add([]byte(`{"event":"voicemail","media_id":"m","size_bytes":10,"sha256":"` + string(make64('a')) + `"}`))
	f.Add([]byte(`{"event":"channel_answer","call_id":"\u00ff\ud800","custom_channel_vars":{"\u0000":""}}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := parse(raw, "acct1", receivedAt)
		if err != nil {
			var verr *adapter.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) == 0 {
				t.Fatalf("rejection is not a ValidationError with fields: %v", err)
			}
			return
		}
		wire, err := proto.Marshal(ev)
		if err != nil {
			t.Fatalf("accepted event does not marshal: %v", err)
		}
		var back pbxhooksv1.Event
		if err := proto.Unmarshal(wire, &back); err != nil {
			t.Fatalf("accepted event does not unmarshal: %v", err)
		}
		if !proto.Equal(ev, &back) {
			t.Fatalf("round trip changed the event:\n%v\n%v", ev, &back)
		}
		var members map[string]any
		if err := json.Unmarshal(raw, &members); err != nil {
			t.Fatalf("accepted input is not a JSON object: %v", err)
		}
		name, _ := members["event"].(string)
		if back.GetId() == "" || back.GetAccountId() != "acct1" {
			t.Fatalf("id %q account %q", back.GetId(), back.GetAccountId())
		}
		if id, given := members["id"].(string); given && id != back.GetId() {
			t.Fatalf("id %q became %q", id, back.GetId())
		}
		switch back.GetKind() {
		case event.KindCall:
			callID, _ := members["call_id"].(string)
			if back.GetLifecycle() != name || back.GetCallId() != callID || callID == "" {
				t.Fatalf("lifecycle %q call id %q from event %q call_id %q", back.GetLifecycle(), back.GetCallId(), name, callID)
			}
			if _, err := bus.CallEventSubject(back.GetAccountId(), back.GetCallType(), back.GetStatus()); err != nil {
				t.Fatalf("accepted call event has no subject: %v", err)
			}
		case event.KindMedia:
			if back.GetMedia().GetType() != name {
				t.Fatalf("media type %q from event %q", back.GetMedia().GetType(), name)
			}
			if _, err := bus.MediaEventSubject(back.GetAccountId(), name); err != nil {
				t.Fatalf("accepted media event has no subject: %v", err)
			}
		default:
			t.Fatalf("accepted event of kind %q", back.GetKind())
		}
	})
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}
