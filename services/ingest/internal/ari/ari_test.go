package ari

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

var receivedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// ariChannel is a channel snapshot as ARI sends it.
func ariChannel(id, state string, vars map[string]string, appName string) map[string]any {
	return map[string]any{
		"id":           id,
		"name":         "PJSIP/100-00000001",
		"state":        state,
		"protocol_id":  "abc@10.0.0.1",
		"caller":       map[string]any{"name": "Alice", "number": "100"},
		"connected":    map[string]any{"name": "", "number": ""},
		"accountcode":  "",
		"dialplan":     map[string]any{"context": "from-internal", "exten": "200", "priority": 1, "app_name": appName, "app_data": ""},
		"creationtime": "2026-03-04T05:05:25.000+0000",
		"language":     "en",
		"channelvars":  vars,
	}
}

// ariBody builds an ARI event of type typ for ch; extra members (cause,
// cause_txt) are merged in.
func ariBody(typ string, ch map[string]any, extra map[string]any) []byte {
	m := map[string]any{
		"type":        typ,
		"timestamp":   "2026-03-04T05:06:07.250+0000",
		"asterisk_id": "00:11:22:33:44:55",
		"application": "pbxhooks",
		"channel":     ch,
	}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

var acct = map[string]string{"account_id": "acct1"}

func TestLifecycles(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	tests := []struct {
		typ, state        string
		lifecycle, status string
	}{
		{"ChannelCreated", "Ring", event.LifecycleChannelCreate, event.StatusRinging},
		{"StasisStart", "Ring", event.LifecycleChannelCreate, event.StatusRinging},
		{"ChannelStateChange", "Ring", event.LifecycleChannelCreate, event.StatusRinging},
		{"ChannelStateChange", "Ringing", event.LifecycleChannelCreate, event.StatusRinging},
		{"ChannelStateChange", "Up", event.LifecycleChannelAnswer, event.StatusAnswered},
	}
	createIDs := map[string]bool{}
	for _, tt := range tests {
		ev, err := a.Parse(ariBody(tt.typ, ariChannel("1772600725.1", tt.state, acct, ""), nil), "acct1", receivedAt)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.typ, tt.state, err)
		}
		if ev.GetLifecycle() != tt.lifecycle || ev.GetStatus() != tt.status || ev.GetSource() != "ari" || ev.GetCallId() != "1772600725.1" {
			t.Errorf("%s %s: got %s/%s call %q", tt.typ, tt.state, ev.GetLifecycle(), ev.GetStatus(), ev.GetCallId())
		}
		if ev.GetFrom() != "100" || ev.GetFromName() != "Alice" || ev.GetTo() != "200" || ev.GetCallType() != event.CallTypeIncoming {
			t.Errorf("%s %s: parties %v", tt.typ, tt.state, ev)
		}
		if want := time.Date(2026, 3, 4, 5, 6, 7, 250e6, time.UTC); !ev.GetOccurredAt().AsTime().Equal(want) {
			t.Errorf("occurred at %v", ev.GetOccurredAt().AsTime())
		}
		if tt.lifecycle == event.LifecycleChannelCreate {
			createIDs[ev.GetId()] = true
		}
	}
	// ChannelCreated, StasisStart and ringing state changes of one channel
	// are one channel_create: one id, stored once.
	if len(createIDs) != 1 {
		t.Errorf("channel_create ids %v, want exactly one", createIDs)
	}
	// A channel created Down is one Asterisk made to place a call: its
	// channel_create is the Dial that rings it, once its caller is known.
	if _, err := a.Parse(ariBody("ChannelCreated", ariChannel("c", "Down", acct, ""), nil), "acct1", receivedAt); !errors.Is(err, adapter.ErrIgnored) {
		t.Errorf("ChannelCreated Down: got %v, want ErrIgnored", err)
	}
	for _, state := range []string{"Down", "Rsrvd", "OffHook", "Dialing", "Busy", "Pre-ring", "Unknown"} {
		if _, err := a.Parse(ariBody("ChannelStateChange", ariChannel("c", state, acct, ""), nil), "acct1", receivedAt); !errors.Is(err, adapter.ErrIgnored) {
			t.Errorf("state %s: got %v, want ErrIgnored", state, err)
		}
	}
}

func TestDestroyed(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	tests := []struct {
		name     string
		state    string
		appName  string
		vars     map[string]string
		cause    int
		causeTxt string
		want     string
	}{
		{"answered then hung up", "Up", "", acct, 16, "Normal Clearing", event.StatusEnded},
		{"busy", "Ringing", "AppDial", acct, 17, "User busy", event.StatusBusy},
		{"no answer", "Ringing", "AppDial", acct, 19, "No user responding", event.StatusNoAnswer},
		{"rejected", "Ring", "", acct, 21, "Call Rejected", event.StatusRejected},
		{"invalid", "Ring", "", acct, 1, "Unallocated (unassigned) number", event.StatusInvalid},
		{"not available", "Down", "AppDial", acct, 20, "Subscriber absent", event.StatusNotAvailable},
		{"blocked", "Ring", "", acct, 54, "Incoming call barred", event.StatusBlocked},
		{"incoming caller gave up", "Ring", "", acct, 16, "Normal Clearing", event.StatusMissed},
		{"outgoing caller gave up", "Ringing", "AppDial", acct, 16, "Normal Clearing", event.StatusNoAnswer},
		{"direction variable wins", "Ring", "", map[string]string{"account_id": "acct1", "direction": "outbound"}, 16, "Normal Clearing", event.StatusNoAnswer},
		{"ring group leg lost", "Ringing", "AppDial", acct, 26, "Answered elsewhere", event.StatusNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := ariBody("ChannelDestroyed", ariChannel("1772600725.2", tt.state, tt.vars, tt.appName), map[string]any{"cause": tt.cause, "cause_txt": tt.causeTxt})
			ev, err := a.Parse(body, "acct1", receivedAt)
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetLifecycle() != event.LifecycleChannelDestroy || ev.GetStatus() != tt.want {
				t.Errorf("got %s/%s, want channel_destroy/%s", ev.GetLifecycle(), ev.GetStatus(), tt.want)
			}
			h := ev.GetHangup()
			if h.GetCause() != tt.causeTxt || h.GetAnswered() != (tt.state == "Up") || h.GetDurationSeconds() != 42 {
				t.Errorf("hangup %v", h)
			}
			if (tt.state == "Up") == (h.GetRingingSeconds() == 42) {
				t.Errorf("ringing seconds %d for state %s", h.GetRingingSeconds(), tt.state)
			}
		})
	}
}

func TestAccountAndInvalid(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{AccountVar: "tenant"})
	ev, err := a.Parse(ariBody("ChannelCreated", ariChannel("c", "Ring", map[string]string{"tenant": "t9"}, ""), nil), adapter.AnyAccount, receivedAt)
	if err != nil || ev.GetAccountId() != "t9" {
		t.Fatalf("shared route: %v, %v", ev.GetAccountId(), err)
	}
	if _, err := a.Parse(ariBody("ChannelCreated", ariChannel("c", "Ring", nil, ""), nil), adapter.AnyAccount, receivedAt); err == nil {
		t.Error("shared route without the variable accepted")
	}
	for _, typ := range []string{"PlaybackStarted", "ChannelDtmfReceived", "StasisEnd", "ChannelVarset"} {
		if _, err := a.Parse(ariBody(typ, ariChannel("c", "Up", nil, ""), nil), "acct1", receivedAt); !errors.Is(err, adapter.ErrIgnored) {
			t.Errorf("%s: got %v, want ErrIgnored", typ, err)
		}
	}
	invalid := map[string]string{
		"not an object":    `[]`,
		"no type":          `{"channel":{"id":"c"}}`,
		"type not string":  `{"type":5}`,
		"no channel":       `{"type":"ChannelDestroyed","cause":16}`,
		"no channel id":    `{"type":"ChannelCreated","channel":{"state":"Ring"}}`,
		"bad timestamp":    `{"type":"ChannelCreated","timestamp":"noon","channel":{"id":"c"}}`,
		"cause not number": `{"type":"ChannelDestroyed","cause":"16","channel":{"id":"c"}}`,
		"vars not strings": `{"type":"ChannelCreated","channel":{"id":"c","channelvars":{"x":1}}}`,
	}
	for name, body := range invalid {
		_, err := Adapter(Options{}).Parse([]byte(body), "acct1", receivedAt)
		var verr *adapter.ValidationError
		if !errors.As(err, &verr) || len(verr.Fields) == 0 {
			t.Errorf("%s: got %v, want a ValidationError", name, err)
		}
	}
}
