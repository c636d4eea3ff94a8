package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestHookFormPreviewsTheRecentCallsItWouldMatch(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	hookID := createCallHook(t, b, "https://crm.example.com/missed")
	missedCallWithVoicemail(t, r, hookID)

	form := b.get("/console/a/acme/new-webhook/call").expect(t, http.StatusOK, `name="action" value="preview"`)
	values := url.Values{"csrf_token": {form.csrf(t)}, "action": {"preview"},
		"name": {"Missed only"}, "uri": {"https://crm.example.com/other"}, "http_verb": {"post"}, "format": {"json"},
		"retries": {"2"}, "enabled": {"on"}, "call_types": {"incoming_call"}, "call_statuses": {"missed"}}
	// The missed call of call-7 and of call-8, not call-7's ringing leg
	// nor its voicemail; the form keeps what was typed and nothing is saved.
	p := b.post("/console/a/acme/new-webhook/call", values).expect(t, http.StatusOK,
		"Filter preview", "this filter would have matched 2.", "timeline?call=call-7", "timeline?call=call-8",
		`value="Missed only"`)
	if strings.Contains(p.body, "status-ringing") || strings.Contains(p.body, "Webhook created.") {
		t.Fatalf("the preview matched a ringing event or saved the hook:\n%s", p.body)
	}
	var n int
	if err := r.pool.QueryRow(t.Context(), `SELECT count(*) FROM hooks`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("hooks after a preview: %d (%v), want 1", n, err)
	}
	values.Set("call_statuses", "ringing")
	b.post("/console/a/acme/new-webhook/call", values).expect(t, http.StatusOK, "this filter would have matched 1.", "status-ringing")
	values.Set("call_statuses", "no-such-status")
	b.post("/console/a/acme/new-webhook/call", values).expect(t, http.StatusBadRequest, "The API refused this webhook", "call_statuses")
	values.Del("csrf_token")
	b.post("/console/a/acme/new-webhook/call", values).expect(t, http.StatusForbidden, "CSRF token")

	// On the edit form too, without saving the change.
	edit := b.get("/console/a/acme/webhooks/"+hookID+"/edit").expect(t, http.StatusOK, `name="action" value="preview"`)
	b.post("/console/a/acme/webhooks/"+hookID+"/edit", url.Values{"csrf_token": {edit.csrf(t)}, "action": {"preview"},
		"revision": {"1"}, "name": {"Missed calls"}, "uri": {"https://crm.example.com/missed"}, "http_verb": {"post"},
		"format": {"json"}, "retries": {"2"}, "enabled": {"on"}, "call_types": {"incoming_call"}, "call_statuses": {"ringing", "missed"}}).
		expect(t, http.StatusOK, "this filter would have matched 3.", "Nothing was saved.")
	b.get("/console/a/acme/webhooks/"+hookID).expect(t, http.StatusOK, "incoming_call / missed")
}
