package freeswitch

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

var receivedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// fsEvent builds a FreeSWITCH `event json` body as mod_event_socket sends
// it: the usual headers, all strings, overridden and extended by extra (an
// empty value removes a header).
func fsEvent(name string, extra map[string]string) []byte {
	h := map[string]string{
		"Event-Name":                "CHANNEL_HANGUP_COMPLETE",
		"Core-UUID":                 "6a1f5c2e-0000-4000-8000-000000000001",
		"FreeSWITCH-Hostname":       "fs1.example.net",
		"Event-Date-Local":          "2026-03-04 05:06:07",
		"Event-Date-GMT":            "Wed, 04 Mar 2026 05:06:07 GMT",
		"Event-Date-Timestamp":      "1772600767123456",
		"Event-Calling-File":        "switch_core_state_machine.c",
		"Event-Calling-Function":    "switch_core_session_reporting_state",
		"Event-Sequence":            "5321",
		"Event-UUID":                "e-" + strings.ToLower(name),
		"Channel-State":             "CS_REPORTING",
		"Answer-State":              "hangup",
		"Call-Direction":            "inbound",
		"Unique-ID":                 "a-leg-uuid",
		"Caller-Caller-ID-Name":     "Alice",
		"Caller-Caller-ID-Number":   "+15550001",
		"Caller-Destination-Number": "200",
		"variable_account_id":       "acct1",
	}
	h["Event-Name"] = name
	maps.Copy(h, extra)
	for k, v := range h {
		if v == "" {
			delete(h, k)
		}
	}
	b, _ := json.Marshal(h)
	return b
}

func TestLifecycles(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	for name, want := range map[string]struct{ lifecycle, status string }{
		"CHANNEL_CREATE": {event.LifecycleChannelCreate, event.StatusRinging},
		"CHANNEL_ANSWER": {event.LifecycleChannelAnswer, event.StatusAnswered},
		"CHANNEL_BRIDGE": {event.LifecycleChannelBridge, event.StatusAnswered},
	} {
		ev, err := a.Parse(fsEvent(name, map[string]string{"Answer-State": "ringing", "Other-Leg-Unique-ID": "b-leg"}), "acct1", receivedAt)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev.GetLifecycle() != want.lifecycle || ev.GetStatus() != want.status || ev.GetKind() != event.KindCall || ev.GetSource() != "freeswitch" {
			t.Errorf("%s: got %s/%s", name, ev.GetLifecycle(), ev.GetStatus())
		}
		if ev.GetId() != "e-"+strings.ToLower(name) || ev.GetCallId() != "a-leg-uuid" || ev.GetOtherLegCallId() != "b-leg" {
			t.Errorf("%s: id %q call %q other %q", name, ev.GetId(), ev.GetCallId(), ev.GetOtherLegCallId())
		}
		if ev.GetFrom() != "+15550001" || ev.GetFromName() != "Alice" || ev.GetTo() != "200" || ev.GetCallType() != event.CallTypeIncoming || ev.GetDirection() != "inbound" {
			t.Errorf("%s: parties %v", name, ev)
		}
		if got := ev.GetOccurredAt().AsTime(); !got.Equal(time.UnixMicro(1772600767123456)) {
			t.Errorf("%s: occurred at %v", name, got)
		}
		if ev.GetHangup() != nil {
			t.Errorf("%s carries a hangup", name)
		}
	}
}

func TestHangups(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	tests := []struct {
		name string
		h    map[string]string
		want string
	}{
		{"answered then hung up", map[string]string{"Hangup-Cause": "NORMAL_CLEARING", "variable_hangup_cause_q850": "16", "variable_billsec": "30", "variable_duration": "42", "variable_answer_epoch": "1772600737"}, event.StatusEnded},
		{"answered shorter than a second", map[string]string{"Hangup-Cause": "NORMAL_CLEARING", "variable_billsec": "0", "variable_answer_epoch": "1772600767"}, event.StatusEnded},
		{"answer state answered", map[string]string{"Hangup-Cause": "NORMAL_CLEARING", "Answer-State": "answered"}, event.StatusEnded},
		{"busy", map[string]string{"Hangup-Cause": "USER_BUSY", "variable_hangup_cause_q850": "17", "variable_sip_term_status": "486", "variable_billsec": "0", "variable_answer_epoch": "0"}, event.StatusBusy},
		{"no answer", map[string]string{"Hangup-Cause": "NO_ANSWER", "variable_hangup_cause_q850": "19"}, event.StatusNoAnswer},
		{"rejected", map[string]string{"Hangup-Cause": "CALL_REJECTED", "variable_sip_term_status": "603"}, event.StatusRejected},
		{"invalid", map[string]string{"Hangup-Cause": "UNALLOCATED_NUMBER", "variable_sip_term_status": "404"}, event.StatusInvalid},
		{"not registered", map[string]string{"Hangup-Cause": "USER_NOT_REGISTERED"}, event.StatusNotAvailable},
		{"blocked", map[string]string{"Hangup-Cause": "OUTGOING_CALL_BARRED"}, event.StatusBlocked},
		{"caller gave up (incoming)", map[string]string{"Hangup-Cause": "ORIGINATOR_CANCEL", "variable_hangup_cause_q850": "16", "variable_sip_term_status": "487"}, event.StatusMissed},
		{"caller gave up (outgoing)", map[string]string{"Hangup-Cause": "ORIGINATOR_CANCEL", "Call-Direction": "outbound"}, event.StatusNoAnswer},
		{"lost the race", map[string]string{"Hangup-Cause": "LOSE_RACE", "variable_hangup_cause_q850": "16", "Call-Direction": "outbound"}, event.StatusNone},
		{"only the q850 number", map[string]string{"variable_hangup_cause_q850": "17"}, event.StatusBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := a.Parse(fsEvent("CHANNEL_HANGUP_COMPLETE", tt.h), "acct1", receivedAt)
			if err != nil {
				t.Fatal(err)
			}
			if ev.GetLifecycle() != event.LifecycleChannelDestroy || ev.GetStatus() != tt.want {
				t.Errorf("got %s/%s, want channel_destroy/%s", ev.GetLifecycle(), ev.GetStatus(), tt.want)
			}
			if ev.GetHangup().GetCause() != tt.h["Hangup-Cause"] {
				t.Errorf("cause %q", ev.GetHangup().GetCause())
			}
			if sip := tt.h["variable_sip_term_status"]; sip != "" && ev.GetHangup().GetCode() != "sip:"+sip {
				t.Errorf("code %q", ev.GetHangup().GetCode())
			}
		})
	}
	ev, err := a.Parse(fsEvent("CHANNEL_HANGUP_COMPLETE", tests[0].h), "acct1", receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	if h := ev.GetHangup(); h.GetDurationSeconds() != 42 || h.GetBillingSeconds() != 30 || h.GetRingingSeconds() != 12 || !h.GetAnswered() {
		t.Errorf("hangup %v", h)
	}
}

func TestAccount(t *testing.T) {
	t.Parallel()
	custom := Adapter(Options{AccountVar: "variable_tenant"})
	tests := []struct {
		name      string
		a         adapter.Adapter
		route     string
		h         map[string]string
		want      string
		wantField string
		wantOwner string
	}{
		{"route account", Adapter(Options{}), "acct1", map[string]string{"variable_account_id": ""}, "acct1", "", ""},
		{"route and variable agree", Adapter(Options{}), "acct1", nil, "acct1", "", ""},
		{"shared route uses the variable", Adapter(Options{}), adapter.AnyAccount, map[string]string{"variable_account_id": "acct9"}, "acct9", "", ""},
		{"custom variable", custom, adapter.AnyAccount, map[string]string{"variable_tenant": "t-1"}, "t-1", "", ""},
		{"variable names another account", Adapter(Options{}), "acct1", map[string]string{"variable_account_id": "acct2"}, "", "variable_account_id", ""},
		{"shared route without variable", Adapter(Options{}), adapter.AnyAccount, map[string]string{"variable_account_id": ""}, "", "variable_account_id", ""},
		{"shared route with a bad variable", Adapter(Options{}), adapter.AnyAccount, map[string]string{"variable_account_id": "a.b"}, "", "variable_account_id", ""},
		{"shared route with any", Adapter(Options{}), adapter.AnyAccount, map[string]string{"variable_account_id": "any"}, "", "variable_account_id", ""},
		{"rejection names the owner", Adapter(Options{}), adapter.AnyAccount, map[string]string{"variable_account_id": "acct9", "Unique-ID": ""}, "", "Unique-ID", "acct9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := tt.a.Parse(fsEvent("CHANNEL_CREATE", tt.h), tt.route, receivedAt)
			if tt.wantField == "" {
				if err != nil || ev.GetAccountId() != tt.want {
					t.Fatalf("got %v, %v; want account %s", ev.GetAccountId(), err, tt.want)
				}
				return
			}
			var verr *adapter.ValidationError
			if !errors.As(err, &verr) || !verr.Has(tt.wantField) || verr.AccountID != tt.wantOwner {
				t.Fatalf("got %v (%#v); want a problem with %s owned by %q", err, verr, tt.wantField, tt.wantOwner)
			}
		})
	}
}

func TestIgnoredAndInvalid(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	for _, name := range []string{"HEARTBEAT", "CHANNEL_PARK", "CUSTOM", "CHANNEL_HANGUP"} {
		if _, err := a.Parse(fsEvent(name, nil), "acct1", receivedAt); !errors.Is(err, adapter.ErrIgnored) {
			t.Errorf("%s: got %v, want ErrIgnored", name, err)
		}
	}
	invalid := map[string]string{
		"not an object":           `["Event-Name"]`,
		"not JSON":                `Event-Name: CHANNEL_CREATE`,
		"empty":                   ``,
		"no event name":           `{"Unique-ID":"x"}`,
		"event name not a string": `{"Event-Name":7}`,
		"no unique id":            string(fsEvent("CHANNEL_CREATE", map[string]string{"Unique-ID": ""})),
		"bad timestamp":           string(fsEvent("CHANNEL_CREATE", map[string]string{"Event-Date-Timestamp": "yesterday"})),
		"bad direction":           string(fsEvent("CHANNEL_CREATE", map[string]string{"Call-Direction": "sideways"})),
		"bad billsec":             string(fsEvent("CHANNEL_HANGUP_COMPLETE", map[string]string{"variable_billsec": "-1"})),
		"number header":           `{"Event-Name":"CHANNEL_HANGUP_COMPLETE","Unique-ID":"u","variable_account_id":"acct1","variable_duration":5}`,
		"bad route account":       "route",
	}
	for name, body := range invalid {
		route := "acct1"
		if body == "route" {
			body, route = string(fsEvent("CHANNEL_CREATE", nil)), "a b"
		}
		_, err := a.Parse([]byte(body), route, receivedAt)
		var verr *adapter.ValidationError
		if !errors.As(err, &verr) || len(verr.Fields) == 0 {
			t.Errorf("%s: got %v, want a ValidationError", name, err)
		}
	}
}

func TestEventIDFallsBackToDigest(t *testing.T) {
	t.Parallel()
	a := Adapter(Options{})
	body := fsEvent("CHANNEL_CREATE", map[string]string{"Event-UUID": ""})
	first, err := a.Parse(body, "acct1", receivedAt)
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Parse(body, "acct1", receivedAt.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetId()) != 32 || first.GetId() != again.GetId() {
		t.Errorf("ids %q and %q: want the same 32-character digest", first.GetId(), again.GetId())
	}
}
