package bus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// badAccountIDs would break subject tokenisation or permissions if they
// reached a subject: wildcards, separators, whitespace, empty, too long.
var badAccountIDs = []string{"", "a.b", "a*", "a>", "*", ">", "a b", "a\tb", "a\nb", "acct/1", "é", strings.Repeat("a", 65)}

func TestSubjectBuildersRejectBadAccountIDs(t *testing.T) {
	t.Parallel()
	builders := map[string]func(string) (string, error){
		"PBXNativeSubject": bus.PBXNativeSubject,
		"CallEventSubject": func(a string) (string, error) {
			return bus.CallEventSubject(a, event.CallTypeIncoming, event.StatusRinging)
		},
		"MediaEventSubject": func(a string) (string, error) { return bus.MediaEventSubject(a, event.MediaVoicemail) },
		"DeliverySubject":   func(a string) (string, error) { return bus.DeliverySubject(a, "hook1") },
	}
	for name, build := range builders {
		for _, id := range badAccountIDs {
			subject, err := build(id)
			if !errors.Is(err, event.ErrInvalidAccountID) {
				t.Errorf("%s(%q) = %q, %v; want ErrInvalidAccountID", name, id, subject, err)
			}
			if subject != "" {
				t.Errorf("%s(%q) returned subject %q with an error", name, id, subject)
			}
		}
	}
}

func TestSubjectBuildersRejectBadTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		build func() (string, error)
	}{
		{"hook id with dot", func() (string, error) { return bus.DeliverySubject("acct", "hook.1") }},
		{"hook id wildcard", func() (string, error) { return bus.DeliverySubject("acct", ">") }},
		{"empty hook id", func() (string, error) { return bus.DeliverySubject("acct", "") }},
		{"unknown call type", func() (string, error) { return bus.CallEventSubject("acct", "sideways_call", event.StatusRinging) }},
		{"unknown status", func() (string, error) { return bus.CallEventSubject("acct", event.CallTypeIncoming, "exploded") }},
		{"status with dot", func() (string, error) { return bus.CallEventSubject("acct", event.CallTypeIncoming, "ringing.x") }},
		{"unknown media type", func() (string, error) { return bus.MediaEventSubject("acct", "fax") }},
		{"media wildcard", func() (string, error) { return bus.MediaEventSubject("acct", "*") }},
	} {
		subject, err := tc.build()
		if err == nil || subject != "" {
			t.Errorf("%s: got %q, %v; want an error", tc.name, subject, err)
		}
	}
	for _, tok := range []string{"", "a.b", "*", ">", "a b"} {
		if err := bus.ValidateToken(tok); err == nil {
			t.Errorf("ValidateToken(%q) accepted it", tok)
		}
	}
}

func TestSubjectBuildersShape(t *testing.T) {
	t.Parallel()
	must := func(s string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return s
	}
	for _, tc := range []struct{ got, want string }{
		{must(bus.PBXNativeSubject("acct_1")), "pbx.events.acct_1"},
		{must(bus.CallEventSubject("acct-1", event.CallTypeOutgoing, event.StatusAnswered)), "events.acct-1.call.outgoing_call.answered"},
		{must(bus.CallEventSubject("A1", event.CallTypeIncoming, event.StatusNone)), "events.A1.call.incoming_call.none"},
		{must(bus.MediaEventSubject("A1", event.MediaCallRecording)), "events.A1.media.call_recording"},
		{must(bus.DeliverySubject("A1", "h-9")), "deliveries.A1.h-9"},
		{bus.HooksChangedSubject("A1"), "hooks.changed.A1"},
		{bus.HooksDisabledSubject("A1"), "hooks.disabled.A1"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestDeadLetterSubjectAttributesKnownAccounts(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"acct1":      "pbx.deadletter.acct1",
		"":           "pbx.deadletter",
		"bad.acct":   "pbx.deadletter",
		"with space": "pbx.deadletter",
	}
	for account, want := range cases {
		if got := bus.DeadLetterSubject(account); got != want {
			t.Errorf("DeadLetterSubject(%q) = %q, want %q", account, got, want)
		}
	}
}

func TestParkedSubjectNamesItsEndpoint(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"https://crm.example.com:443", "http://127.0.0.1:9000", "http://[::1]:80"} {
		subject, err := bus.ParkedSubject(key)
		if err != nil {
			t.Fatalf("ParkedSubject(%q): %v", key, err)
		}
		if strings.Count(subject, ".") != 1 || strings.ContainsAny(subject, " *>") {
			t.Fatalf("ParkedSubject(%q) = %q: not one token under parked.", key, subject)
		}
		got, err := bus.ParkedEndpoint(subject)
		if err != nil || got != key {
			t.Fatalf("ParkedEndpoint(%q) = %q, %v; want %q", subject, got, err, key)
		}
		if name := bus.ParkedConsumer(key); len(name) != len("parked-")+32 || name != bus.ParkedConsumer(key) {
			t.Fatalf("ParkedConsumer(%q) = %q", key, name)
		}
	}
	if _, err := bus.ParkedSubject("https://" + strings.Repeat("a", 400) + ":443"); err == nil {
		t.Fatal("a 400-byte host was given a parked subject")
	}
	for _, bad := range []string{"parked.", "deliveries.a.b", "parked.a.b", "parked.!!"} {
		if key, err := bus.ParkedEndpoint(bad); err == nil {
			t.Fatalf("ParkedEndpoint(%q) = %q, want an error", bad, key)
		}
	}
}
