package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

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
