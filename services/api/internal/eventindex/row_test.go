package eventindex_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
)

func TestRowFromMessageBoundsWhatItKeeps(t *testing.T) {
	t.Parallel()
	ev := callEvent("acme", "e1", "c1", event.StatusMissed)
	ev.From = "+1555\x000100" + strings.Repeat("9", 1000)
	ev.CustomChannelVars = map[string]string{"big": strings.Repeat("x", eventindex.MaxPayloadBytes)}
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := bus.EventSubject(ev)
	if err != nil {
		t.Fatal(err)
	}
	row, err := eventindex.RowFromMessage(subject, data, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsRune(row.FromNumber, 0) || len(row.FromNumber) > 512 || !strings.HasPrefix(row.FromNumber, "+15550100") {
		t.Fatalf("from kept as %.40q (%d bytes)", row.FromNumber, len(row.FromNumber))
	}
	if row.Payload != nil {
		t.Fatalf("a %d-byte payload was kept", len(row.Payload))
	}
	if row.Status != event.StatusMissed || row.CallID != "c1" || row.ThreadID != "t-c1" {
		t.Fatalf("row = %+v", row)
	}
}

// FuzzRowFromMessage: whatever arrives on an EVENTS subject, decoding
// never panics, and a row it accepts belongs to the subject's account and
// fits the index.
func FuzzRowFromMessage(f *testing.F) {
	ev := callEvent("acme", "e1", "c1", event.StatusRinging)
	data, err := proto.Marshal(ev)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("events.acme.call.incoming_call.ringing", data)
	f.Add("events.globex.call.incoming_call.ringing", data)
	f.Add("events.acme.media.voicemail", []byte{0x0a, 0x02, 'i', 'd'})
	f.Add("events.acme", []byte("garbage"))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		row, err := eventindex.RowFromMessage(subject, data, "", time.Unix(0, 0))
		if err != nil {
			return
		}
		if !strings.HasPrefix(subject, "events."+row.AccountID+".") {
			t.Fatalf("row of account %q accepted from %q", row.AccountID, subject)
		}
		for _, s := range []string{row.EventID, row.CallID, row.ThreadID, row.FromNumber, row.ToNumber} {
			if len(s) > 512 || strings.ContainsRune(s, 0) {
				t.Fatalf("unbounded field %.40q", s)
			}
		}
		if len(row.Payload) > eventindex.MaxPayloadBytes {
			t.Fatalf("payload of %d bytes", len(row.Payload))
		}
	})
}
