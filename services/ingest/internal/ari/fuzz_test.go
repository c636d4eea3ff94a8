package ari

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
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
		checkParsed(t, ev, err, route)
	})
}

func checkParsed(t *testing.T, ev *pbxhooksv1.Event, err error, route string) {
	t.Helper()
	if err != nil {
		var verr *adapter.ValidationError
		if !errors.Is(err, adapter.ErrIgnored) && (!errors.As(err, &verr) || len(verr.Fields) == 0) {
			t.Fatalf("refusal is neither ignored nor a ValidationError with fields: %v", err)
		}
		if ev != nil {
			t.Fatalf("an event with an error: %v", ev)
		}
		return
	}
	wire, err := proto.Marshal(ev)
	if err != nil {
		t.Fatalf("accepted event does not marshal: %v", err)
	}
	var back pbxhooksv1.Event
	if err := proto.Unmarshal(wire, &back); err != nil || !proto.Equal(ev, &back) {
		t.Fatalf("round trip changed the event: %v", err)
	}
	if back.GetId() == "" || back.GetCallId() == "" || back.GetAccountId() == adapter.AnyAccount {
		t.Fatalf("id %q call id %q account %q", back.GetId(), back.GetCallId(), back.GetAccountId())
	}
	if route != adapter.AnyAccount && back.GetAccountId() != route {
		t.Fatalf("account %q on route %q", back.GetAccountId(), route)
	}
	if _, err := bus.CallEventSubject(back.GetAccountId(), back.GetCallType(), back.GetStatus()); err != nil {
		t.Fatalf("accepted event has no subject: %v", err)
	}
}
