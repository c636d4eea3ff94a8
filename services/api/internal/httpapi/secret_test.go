package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	const overlap = 3 * time.Hour
	h := newHarness(t, func(d *httpapi.Deps) { d.SecretRotationOverlap = overlap })
	changes := h.watchHookChanges(t, "acct1")
	created := h.createHook(t, "acct1", wirecloudBody)
	id, oldSecret := created["id"].(string), created["secret"].(string)
	expectChange(t, changes, id, "created")
	path := "/v1/accounts/acct1/webhooks/" + id

	before := time.Now()
	r := h.do(t, http.MethodPost, path+"/secret", adminToken, "").expect(t, http.StatusOK)
	doc := r.data(t)
	newSecret, _ := doc["secret"].(string)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(newSecret, httpapi.SecretPrefix))
	if !strings.HasPrefix(newSecret, httpapi.SecretPrefix) || err != nil || len(raw) != 32 || newSecret == oldSecret {
		t.Fatalf("new secret %q (old %q)", newSecret, oldSecret)
	}
	if doc["revision"] != 2.0 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("revision after rotation: %s", r.raw)
	}
	expectChange(t, changes, id, "secret_rotated")

	// The deliverer signs with both until the old one expires.
	var secret, previous string
	var expires time.Time
	if err := h.pool.QueryRow(t.Context(), `SELECT secret, previous_secret, previous_secret_expires_at FROM hooks WHERE id = $1`, id).
		Scan(&secret, &previous, &expires); err != nil {
		t.Fatalf("read hook: %v", err)
	}
	if secret != newSecret || previous != oldSecret {
		t.Fatalf("stored secret %q previous %q", secret, previous)
	}
	if expires.Before(before.Add(overlap)) || expires.After(time.Now().Add(overlap)) {
		t.Fatalf("previous_secret_expires_at %v, want now + %v", expires, overlap)
	}
	shown, err := time.Parse(time.RFC3339, doc["previous_secret_expires_at"].(string))
	if err != nil || shown.Unix() != expires.Unix() {
		t.Fatalf("previous_secret_expires_at shown %v, stored %v (%v)", doc["previous_secret_expires_at"], expires, err)
	}
	// GET never shows a secret.
	if got := h.do(t, http.MethodGet, path, adminToken, "").data(t); got["secret"] != nil || got["previous_secret"] != nil {
		t.Fatalf("GET shows secrets: %v", got)
	}
	// Conditional rotation with a body revision.
	h.do(t, http.MethodPost, path+"/secret", adminToken, `{"data":{"revision":1}}`).expectError(t, http.StatusConflict, "revision", "conflict")
	h.do(t, http.MethodPost, path+"/secret", adminToken, `{"data":{"revision":2}}`).expect(t, http.StatusOK)
	h.do(t, http.MethodPost, path+"/secret", adminToken, `[`).expectError(t, http.StatusBadRequest, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/acct1/webhooks/0123456789abcdef0123456789abcdef/secret", adminToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/acct1/webhooks/xyz/secret", adminToken, "").expectError(t, http.StatusBadRequest, "webhook_id", "format")
}

func TestRevealSecret(t *testing.T) {
	t.Parallel()
	const overlap = 3 * time.Hour
	h := newHarness(t, func(d *httpapi.Deps) { d.SecretRotationOverlap = overlap })
	const apiToken, pbxToken, foreignToken = "reveal-api-token-of-acct1-xxxxxx", "reveal-pbx-token-of-acct1-xxxxxx", "reveal-api-token-of-acct2-xxxxxx"
	h.accountToken(t, "acct1", apiToken)
	h.accountToken(t, "acct1", pbxToken, credential.ScopePBX)
	h.accountToken(t, "acct2", foreignToken)
	created := h.createHook(t, "acct1", wirecloudBody)
	id, createdSecret := created["id"].(string), created["secret"].(string)
	path := "/v1/accounts/acct1/webhooks/" + id + "/secret"

	// Before any rotation: the secret of the create, no expiry.
	r := h.do(t, http.MethodGet, path, apiToken, "").expect(t, http.StatusOK)
	if doc := r.data(t); doc["secret"] != createdSecret || doc["previous_secret_expires_at"] != nil || len(doc) != 1 {
		t.Fatalf("reveal before rotation: %s (created with %q)", r.raw, createdSecret)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", got)
	}

	// After a rotation: the new secret, and the old one's expiry while it
	// still signs. Reading changes nothing.
	rotated := h.do(t, http.MethodPost, path, adminToken, "").expect(t, http.StatusOK).data(t)
	r = h.do(t, http.MethodGet, path, adminToken, "").expect(t, http.StatusOK)
	doc := r.data(t)
	if doc["secret"] != rotated["secret"] || doc["secret"] == createdSecret || doc["previous_secret_expires_at"] != rotated["previous_secret_expires_at"] {
		t.Fatalf("reveal after rotation: %s, rotation answered %v", r.raw, rotated)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("ETag") != "" {
		t.Fatalf("headers after rotation: %v", r.header)
	}
	if hook := h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/"+id, apiToken, "").data(t); hook["revision"] != rotated["revision"] {
		t.Fatalf("reveal changed the revision: %v, rotation left %v", hook["revision"], rotated["revision"])
	}

	// Once the overlap is over, the expiry is history and not shown.
	if _, err := h.pool.Exec(t.Context(), `UPDATE hooks SET previous_secret_expires_at = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
		t.Fatalf("expire previous secret: %v", err)
	}
	r = h.do(t, http.MethodGet, path, apiToken, "").expect(t, http.StatusOK)
	if doc := r.data(t); doc["secret"] != rotated["secret"] || doc["previous_secret_expires_at"] != nil {
		t.Fatalf("reveal after the overlap: %s", r.raw)
	}

	// Refusals, in the API's error envelope, never carrying the secret.
	for _, refused := range []response{
		h.do(t, http.MethodGet, path, "", ""),
		h.do(t, http.MethodGet, path, "not-a-token", ""),
		h.do(t, http.MethodGet, path, foreignToken, ""),
		h.do(t, http.MethodGet, path, pbxToken, ""),
		h.do(t, http.MethodGet, "/v1/accounts/acct2/webhooks/"+id+"/secret", foreignToken, ""),
		h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/0123456789abcdef0123456789abcdef/secret", apiToken, ""),
	} {
		if strings.Contains(string(refused.raw), rotated["secret"].(string)) {
			t.Fatalf("refusal shows the secret: %s", refused.raw)
		}
	}
	h.do(t, http.MethodGet, path, "", "").expectError(t, http.StatusUnauthorized, "", "")
	h.do(t, http.MethodGet, path, foreignToken, "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodGet, path, pbxToken, "").expectError(t, http.StatusForbidden, "", "")
	// The hook of acct1 asked for under acct2 is not acct2's.
	h.do(t, http.MethodGet, "/v1/accounts/acct2/webhooks/"+id+"/secret", foreignToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/0123456789abcdef0123456789abcdef/secret", apiToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/xyz/secret", apiToken, "").expectError(t, http.StatusBadRequest, "webhook_id", "format")
}
