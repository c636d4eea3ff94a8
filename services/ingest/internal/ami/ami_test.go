package ami

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	amimsg "github.com/pbxhooks/pbxhooks/pkg/ami"
	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/chanstate"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

var receivedAt = time.Date(2026, 11, 30, 14, 32, 2, 0, time.UTC)

// replay parses every message of a captured AMI stream in order, with
// channel state in a real Key-Value bucket, and returns the events by
// channel.
func replay(t *testing.T, name string) map[string][]*pbxhooksv1.Event {
	t.Helper()
	_, _, js := testenv.JetStream(t)
	kv, err := bus.EnsureChannelStateBucket(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := Adapter(Options{Channels: chanstate.KV{KV: kv}})
	if !a.Ordered {
		t.Fatal("the AMI adapter with channel state must ask for ordered consumption")
	}
	b := testenv.SharedFixture(t, "pbx-captures", "asterisk", name)
	_, stream, _ := bytes.Cut(b, []byte("\n")) // the banner line
	r := bufio.NewReader(bytes.NewReader(stream))
	out := map[string][]*pbxhooksv1.Event{}
	for {
		m, err := amimsg.ReadMessage(r)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		ev, err := a.Parse(m.Raw, "acct1", receivedAt)
		if errors.Is(err, adapter.ErrIgnored) {
			continue
		}
		var verr *adapter.ValidationError
		if errors.As(err, &verr) && !m.Has("Event") {
			continue // a response to the capture's own actions
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, m.Raw)
		}
		out[ev.GetCallId()] = append(out[ev.GetCallId()], ev)
	}
}

func TestBusyCallCapture(t *testing.T) {
	t.Parallel()
	byCall := replay(t, "ami_linkedid.txt")
	want := map[string]struct{ callType, end string }{
		"1796049121.28": {event.CallTypeOutgoing, event.StatusNoAnswer},
		"1796049121.29": {event.CallTypeIncoming, event.StatusBusy},
		"1796049121.30": {event.CallTypeOutgoing, event.StatusBusy},
		"1796049121.31": {event.CallTypeIncoming, event.StatusBusy},
	}
	for id, w := range want {
		evs := byCall[id]
		if len(evs) < 2 || evs[0].GetLifecycle() != event.LifecycleChannelCreate {
			t.Errorf("channel %s: %v, want channel_create first", id, evs)
			continue
		}
		for _, ev := range evs {
			if ev.GetCallType() != w.callType || ev.GetThreadId() != "1796049121.28" {
				t.Errorf("channel %s %s: %s thread %q, want %s in thread 1796049121.28", id, ev.GetLifecycle(), ev.GetCallType(), ev.GetThreadId(), w.callType)
			}
		}
		last := evs[len(evs)-1]
		if last.GetLifecycle() != event.LifecycleChannelDestroy || last.GetStatus() != w.end {
			t.Errorf("channel %s ends %s/%s, want channel_destroy/%s", id, last.GetLifecycle(), last.GetStatus(), w.end)
		}
	}
	if evs := byCall["1796049121.30"]; len(evs) > 0 && (evs[0].GetFrom() != "101" || evs[0].GetOtherLegCallId() != "1796049121.29") {
		t.Errorf("dialled leg ringing: from %q other leg %q, want 101 and 1796049121.29", evs[0].GetFrom(), evs[0].GetOtherLegCallId())
	}
}

func TestAnsweredCallCapture(t *testing.T) {
	t.Parallel()
	byCall := replay(t, "ami_disconnect.txt")
	want := map[string]string{
		"1796049093.24": event.CallTypeOutgoing, "1796049093.25": event.CallTypeIncoming,
		"1796049093.26": event.CallTypeOutgoing, "1796049093.27": event.CallTypeIncoming,
	}
	for id, callType := range want {
		evs := byCall[id]
		lifecycles := map[string]bool{}
		for _, ev := range evs {
			lifecycles[ev.GetLifecycle()] = true
			if ev.GetCallType() != callType {
				t.Errorf("channel %s %s: %s, want %s", id, ev.GetLifecycle(), ev.GetCallType(), callType)
			}
		}
		if len(evs) == 0 || !lifecycles[event.LifecycleChannelAnswer] {
			t.Errorf("channel %s: %d events, no channel_answer", id, len(evs))
			continue
		}
		if last := evs[len(evs)-1]; last.GetStatus() != event.StatusEnded || !last.GetHangup().GetAnswered() {
			t.Errorf("channel %s ends %s", id, last.GetStatus())
		}
	}
	for _, id := range []string{"1796049093.25", "1796049093.26"} {
		bridged := false
		for _, ev := range byCall[id] {
			bridged = bridged || ev.GetLifecycle() == event.LifecycleChannelBridge
		}
		if !bridged {
			t.Errorf("channel %s: no channel_bridge from BridgeEnter", id)
		}
	}
}

func TestInvalidAndIgnored(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	if _, err := a.Parse([]byte("Event: PeerStatus\r\nPeer: PJSIP/100\r\n"), "acct1", receivedAt); !errors.Is(err, adapter.ErrIgnored) {
		t.Errorf("PeerStatus: %v, want ErrIgnored", err)
	}
	for name, body := range map[string]string{
		"not AMI":     "{}",
		"no event":    "Response: Success\r\nActionID: 1\r\n",
		"no uniqueid": "Event: Hangup\r\nCause: 16\r\n",
		"bad time":    "Event: Hangup\r\nUniqueid: 1.1\r\nTimestamp: noon\r\n",
		"no account":  "Event: Newchannel\r\nUniqueid: 1.1\r\nChannelState: 4\r\n",
	} {
		route := "acct1"
		if name == "no account" {
			route = adapter.AnyAccount
		}
		_, err := a.Parse([]byte(body), route, receivedAt)
		var verr *adapter.ValidationError
		if !errors.As(err, &verr) {
			t.Errorf("%s: %v, want a ValidationError", name, err)
		}
	}
	ev, err := a.Parse([]byte("Event: Newchannel\r\nUniqueid: 1.1\r\nChannelState: 4\r\nChanVariable: account_id=t9\r\nTimestamp: 1796049121.990000\r\n"), adapter.AnyAccount, receivedAt)
	if err != nil || ev.GetAccountId() != "t9" || ev.GetOccurredAt().AsTime().Unix() != 1796049121 {
		t.Errorf("shared route with timestamp: %v %v", ev, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("Event: Hangup\r\nUniqueid: 1.1\r\nCause: 16\r\nChannelState: 6\r\n"))
	f.Add([]byte("Event: DialEnd\r\nDestUniqueid: 1.2\r\nUniqueid: 1.1\r\nDialStatus: BUSY\r\n"))
	a := Adapter(Options{})
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := a.Parse(in, "acct1", receivedAt)
		if err == nil && (ev.GetCallId() == "" || !event.IsLifecycle(ev.GetLifecycle())) {
			t.Fatalf("accepted an event without a call id or lifecycle: %v", ev)
		}
	})
}

func TestReconstructedHangup(t *testing.T) {
	t.Parallel()
	ev, err := Adapter(Options{}).Parse([]byte("Event: Hangup\r\nChannelState: 6\r\nUniqueid: 1.5\r\nLinkedid: 1.4\r\nCause: 0\r\nChanVariable: pbxhooks_reconstructed=true\r\n"), "acct1", receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetStatus() != event.StatusEnded || ev.GetCustomChannelVars()[event.ReconstructedVar] != "true" || ev.GetThreadId() != "1.4" {
		t.Errorf("reconstructed hangup: %s %v %q", ev.GetStatus(), ev.GetCustomChannelVars(), ev.GetThreadId())
	}
}
