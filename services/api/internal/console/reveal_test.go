package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
)

var shownSecret = regexp.MustCompile(`<code id="secret-value">(whsec_[^<]+)</code>`)

func TestRevealSecretShowsTheCurrentSecret(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	id := createCallHook(t, b, "https://crm.example.com/missed")
	detail := b.get("/console/a/acme/webhooks/"+id).expect(t, http.StatusOK, `/webhooks/`+id+`/reveal-secret`, "Reveal secret")
	if shownSecret.MatchString(detail.body) {
		t.Fatalf("the detail page shows a secret before it is asked for:\n%s", detail.body)
	}

	// The secret of a rotation is the one revealed afterwards.
	rotated := shownSecret.FindStringSubmatch(b.post("/console/a/acme/webhooks/"+id+"/secret", url.Values{"csrf_token": {detail.csrf(t)}}).
		expect(t, http.StatusOK, "Signing secret rotated").body)
	revealed := b.post("/console/a/acme/webhooks/"+id+"/reveal-secret", url.Values{"csrf_token": {detail.csrf(t)}}).
		expect(t, http.StatusOK, "Current signing secret")
	shown := shownSecret.FindStringSubmatch(revealed.body)
	if rotated == nil || shown == nil || shown[1] != rotated[1] {
		t.Fatalf("revealed %v, rotated to %v", shown, rotated)
	}
	if revealed.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", revealed.header.Get("Cache-Control"))
	}

	// Without the CSRF token nothing is shown.
	refused := b.post("/console/a/acme/webhooks/"+id+"/reveal-secret", url.Values{})
	if refused.status != http.StatusForbidden || shownSecret.MatchString(refused.body) {
		t.Fatalf("reveal without CSRF token: %d\n%s", refused.status, refused.body)
	}
	b.post("/console/a/acme/webhooks/0123456789abcdef0123456789abcdef/reveal-secret", url.Values{"csrf_token": {detail.csrf(t)}}).
		expect(t, http.StatusNotFound, "webhook not found")
}
