package ari

import (
	"testing"

	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter/adaptertest"
)

// FuzzARI feeds arbitrary bytes to the parser, on an account route
// and on the shared route. It must never panic; input it refuses must be a
// ValidationError with fields or ErrIgnored; input it accepts must give an
// event that survives the wire, belongs to the right account and routes to
// a valid EVENTS subject. The seed corpus is in
// testdata/fuzz/FuzzARI.
func FuzzARI(f *testing.F) {
	f.Add(ariBody("ChannelCreated", ariChannel("1.1", "Ring", acct, ""), nil), false)
	f.Add(ariBody("ChannelDestroyed", ariChannel("1.2", "Up", acct, "AppDial"), map[string]any{"cause": 26, "cause_txt": "x"}), true)
	f.Add([]byte(`{"type":"ChannelStateChange","timestamp":"0000-01-01T00:00:00Z","channel":{"id":"\u00ff\ud800","state":"Up","channelvars":{"account_id":"any"}}}`), true)
	f.Add([]byte(`{"type":"ChannelDestroyed","cause":-9223372036854775808,"channel":{"id":"c","creationtime":"9999-12-31T23:59:59Z"}}`), false)
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
