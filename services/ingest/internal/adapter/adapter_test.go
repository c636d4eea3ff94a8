package adapter

import "testing"

func TestOwnsSubject(t *testing.T) {
	t.Parallel()
	a := Adapter{Subject: "pbx.events.*"}
	for subject, want := range map[string]bool{
		"pbx.events.acct1":      true,
		"pbx.events.":           false,
		"pbx.events.acct1.more": false,
		"pbx.freeswitch.acct1":  false,
		"pbx.eventsacct1":       false,
	} {
		if got := a.OwnsSubject(subject); got != want {
			t.Errorf("OwnsSubject(%q) = %v, want %v", subject, got, want)
		}
	}
	if got := AccountFromSubject("pbx.events.acct1"); got != "acct1" {
		t.Errorf("AccountFromSubject = %q", got)
	}
}
