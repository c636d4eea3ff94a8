package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestFreeSWITCHAndARIRoutes(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	fs := func(account, body string) answer {
		return postRaw(t, srv, "/v1/accounts/"+account+"/events/freeswitch", "application/json", []byte(body))
	}
	a := fs("acct1", `{"Event-Name":"CHANNEL_CREATE","Event-UUID":"fs-ev-1","Unique-ID":"u1","Call-Direction":"outbound"}`)
	if a.status != http.StatusAccepted || strings.Join(ids(t, a), ",") != "fs-ev-1" {
		t.Errorf("FreeSWITCH event: %d %v", a.status, a.body)
	}
	a = fs("acct1", `{"Event-Name":"HEARTBEAT"}`)
	if a.status != http.StatusAccepted || len(ids(t, a)) != 0 || dataOf(a)["ignored"] == nil {
		t.Errorf("heartbeat: %d %v, want 202 listing it as ignored", a.status, a.body)
	}
	a = fs("any", `{"Event-Name":"CHANNEL_ANSWER","variable_account_id":"acct5"}`)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body["message"].(string), "Unique-ID is required") {
		t.Errorf("broken event: %d %v, want 400 naming Unique-ID", a.status, a.body)
	}
	a = postRaw(t, srv, "/v1/accounts/any/events/ari", "application/json",
		[]byte(`{"type":"ChannelCreated","channel":{"id":"1.1","state":"Ring","channelvars":{"account_id":"acct6"}}}`))
	if a.status != http.StatusAccepted || len(ids(t, a)) != 1 {
		t.Errorf("ARI event: %d %v", a.status, a.body)
	}
	if a := post(t, srv, "any", "application/json", `{"event":"channel_create","call_id":"c"}`); a.status != http.StatusBadRequest {
		t.Errorf("native event on the shared account: %d %v, want 400", a.status, a.body)
	}

	subjects := map[string]bool{}
	for _, m := range testenv.StoredMsgs(t, js, bus.StreamEvents) {
		subjects[m.Subject] = true
	}
	if len(subjects) != 2 || !subjects["events.acct1.call.outgoing_call.ringing"] || !subjects["events.acct6.call.incoming_call.ringing"] {
		t.Errorf("EVENTS subjects %v", subjects)
	}
	// The broken FreeSWITCH event named its account; the native one did not.
	dl := testenv.StoredMsgs(t, js, bus.StreamDeadLetter)
	if len(dl) != 2 || dl[0].Subject != "pbx.deadletter.acct5" || dl[1].Subject != "pbx.deadletter.any" {
		for _, d := range dl {
			t.Logf("dead letter on %s", d.Subject)
		}
		t.Errorf("%d dead letters, want one for acct5 and one for any", len(dl))
	}
}
