// Package adaptertest holds the checks every PBX adapter's tests share: what
// any parse result must satisfy, whatever bytes produced it.
package adaptertest

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// CheckParsed fails t unless (ev, err) from parsing input on the account
// route is well formed: a refusal is ErrIgnored or a ValidationError naming
// fields and carries no event; an accepted event survives a protobuf round
// trip, has an id and a call id, belongs to the route's account (or to a
// real account on the shared route) and has a valid subject.
func CheckParsed(t *testing.T, ev *pbxhooksv1.Event, err error, route string) {
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
