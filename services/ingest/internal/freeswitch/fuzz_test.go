package freeswitch

import (
	"testing"

	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter/adaptertest"
)

// FuzzFreeSWITCH feeds arbitrary bytes to the parser, on an account route
// and on the shared route. It must never panic; input it refuses must be a
// ValidationError with fields or ErrIgnored; input it accepts must give an
// event that survives the wire, belongs to the right account and routes to
// a valid EVENTS subject. The seed corpus is in
// testdata/fuzz/FuzzFreeSWITCH.
func FuzzFreeSWITCH(f *testing.F) {
	f.Add(fsEvent("CHANNEL_CREATE", nil), false)
	f.Add(fsEvent("CHANNEL_HANGUP_COMPLETE", map[string]string{"Hangup-Cause": "LOSE_RACE"}), true)
	f.Add([]byte(`{"Event-Name":"CHANNEL_ANSWER","Unique-ID":"\u00ff\ud800","Event-Date-Timestamp":"9223372036854775807"}`), false)
	f.Add([]byte(`{"Event-Name":"HEARTBEAT"}`), true)
	a := Adapter(Options{})
	f.Fuzz(func(t *testing.T, raw []byte, shared bool) {
		route := "acct1"
		if shared {
			route = adapter.AnyAccount
		}
		ev, err := a.Parse(raw, route, receivedAt)
		adaptertest.CheckParsed(t, ev, err, route)
	})
}
