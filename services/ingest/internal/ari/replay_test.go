package ari

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/chanstate"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// replayCapture parses every frame of a captured ARI websocket stream in
// order, with channel state in a real JetStream Key-Value bucket, and
// returns the events by channel in emission order. Lines starting "###"
// are the capture's notes.
func replayCapture(t *testing.T, name string) map[string][]*pbxhooksv1.Event {
	t.Helper()
	_, _, js := testenv.JetStream(t)
	kv, err := bus.EnsureChannelStateBucket(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := Adapter(Options{AccountVar: "tenant", Channels: chanstate.KV{KV: kv}})
	if !a.Ordered {
		t.Fatal("an ARI adapter with channel state must ask for ordered consumption")
	}
	out := map[string][]*pbxhooksv1.Event{}
	sc := bufio.NewScanner(bytes.NewReader(testenv.SharedFixture(t, "pbx-captures", "asterisk", name)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || bytes.HasPrefix(line, []byte("###")) {
			continue
		}
		ev, err := a.Parse(line, "acct1", receivedAt)
		if errors.Is(err, adapter.ErrIgnored) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, line)
		}
		out[ev.GetCallId()] = append(out[ev.GetCallId()], ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The busy call of the capture: Local/101 (channels .28 and .29) dials
// Local/201 (.30 and .31), whose dialplan runs Busy().
const (
	originateLeg = "1796049121.28"
	callerLeg    = "1796049121.29"
	dialledLeg   = "1796049121.30"
	busyLeg      = "1796049121.31"
)

func TestReplayDirectionDecidedOncePerChannel(t *testing.T) {
	t.Parallel()
	byCall := replayCapture(t, "ari_linkedid.jsonl")
	want := map[string]string{originateLeg: event.CallTypeOutgoing, callerLeg: event.CallTypeIncoming, dialledLeg: event.CallTypeOutgoing, busyLeg: event.CallTypeIncoming}
	for id, callType := range want {
		evs := byCall[id]
		if len(evs) == 0 {
			t.Errorf("channel %s: no events", id)
		}
		for _, ev := range evs {
			if ev.GetCallType() != callType {
				t.Errorf("channel %s %s: call type %s, want %s throughout the call", id, ev.GetLifecycle(), ev.GetCallType(), callType)
			}
		}
	}
}

func TestReplayCallerCarriedToRinging(t *testing.T) {
	t.Parallel()
	byCall := replayCapture(t, "ari_linkedid.jsonl")
	evs := byCall[dialledLeg]
	if len(evs) == 0 || evs[0].GetLifecycle() != event.LifecycleChannelCreate {
		t.Fatalf("dialled leg: events %v, want channel_create first", evs)
	}
	for _, ev := range evs {
		if ev.GetFrom() != "101" {
			t.Errorf("dialled leg %s/%s: from %q, want the caller 101 that ChannelCallerId reported", ev.GetLifecycle(), ev.GetStatus(), ev.GetFrom())
		}
	}
	if evs[0].GetOtherLegCallId() != callerLeg {
		t.Errorf("dialled leg ringing: other leg %q, want %s", evs[0].GetOtherLegCallId(), callerLeg)
	}
}

func TestReplayDialStatusDecidesOutcome(t *testing.T) {
	t.Parallel()
	byCall := replayCapture(t, "ari_linkedid.jsonl")
	for _, id := range []string{callerLeg, dialledLeg, busyLeg} {
		evs := byCall[id]
		if len(evs) == 0 {
			t.Fatalf("channel %s: no events", id)
		}
		last := evs[len(evs)-1]
		if last.GetLifecycle() != event.LifecycleChannelDestroy || last.GetStatus() != event.StatusBusy {
			t.Errorf("channel %s: ends %s/%s, want channel_destroy/busy (Dial said BUSY)", id, last.GetLifecycle(), last.GetStatus())
		}
	}
}

func TestReplayLinkedIDIsThread(t *testing.T) {
	t.Parallel()
	byCall := replayCapture(t, "ari_linkedid.jsonl")
	if len(byCall) != 4 {
		t.Errorf("%d channels, want the call's 4", len(byCall))
	}
	for id, evs := range byCall {
		for _, ev := range evs {
			if ev.GetThreadId() != originateLeg {
				t.Errorf("channel %s %s: thread %q, want the linkedid %s", id, ev.GetLifecycle(), ev.GetThreadId(), originateLeg)
			}
		}
	}
}

func TestReplayDisconnectedTail(t *testing.T) {
	t.Parallel()
	// Only the end of an answered call arrives: every leg still ends, and
	// the answered ones as ended.
	byCall := replayCapture(t, "ari_disconnect.jsonl")
	want := map[string]string{"1796049093.24": event.CallTypeOutgoing, "1796049093.25": event.CallTypeIncoming, "1796049093.26": event.CallTypeOutgoing, "1796049093.27": event.CallTypeIncoming}
	for id, callType := range want {
		evs := byCall[id]
		if len(evs) != 1 || evs[0].GetLifecycle() != event.LifecycleChannelDestroy || evs[0].GetStatus() != event.StatusEnded || evs[0].GetCallType() != callType {
			t.Errorf("channel %s: %v, want one channel_destroy/ended %s", id, evs, callType)
		}
	}
}

func TestEnteredBridgeIsChannelBridge(t *testing.T) {
	t.Parallel()
	body := ariBody("ChannelEnteredBridge", ariChannel("1772600725.1", "Up", acct, "Dial"), map[string]any{"bridge": map[string]any{"id": "b1", "bridge_type": "mixing"}})
	ev, err := Adapter(Options{}).Parse(body, "acct1", receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetLifecycle() != event.LifecycleChannelBridge || ev.GetStatus() != event.StatusAnswered || ev.GetCallId() != "1772600725.1" {
		t.Errorf("got %s/%s for %s, want channel_bridge/answered", ev.GetLifecycle(), ev.GetStatus(), ev.GetCallId())
	}
}

func TestReconstructedMarkIsKept(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"account_id": "acct1", event.ReconstructedVar: "true"}
	ev, err := Adapter(Options{}).Parse(ariBody("ChannelDestroyed", ariChannel("c9", "Up", vars, ""), map[string]any{"cause": 0, "cause_txt": ""}), "acct1", receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetCustomChannelVars()[event.ReconstructedVar] != "true" || ev.GetStatus() != event.StatusEnded {
		t.Errorf("reconstructed destroy: vars %v status %s", ev.GetCustomChannelVars(), ev.GetStatus())
	}
}
