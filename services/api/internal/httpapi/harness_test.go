package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const (
	adminToken   = "admin-token-for-tests-0123456789"
	maxBodyBytes = 8192
)

// harness is one API served over real HTTP on a private database and NATS
// server.
type harness struct {
	url  string
	pool *pgxpool.Pool
	nc   *nats.Conn
	js   jetstream.JetStream
	srv  *httpapi.Server
}

// newHarness serves the API; options adjust its Deps (rates, waits).
func newHarness(t *testing.T, options ...func(*httpapi.Deps)) *harness {
	t.Helper()
	_, pool := testenv.Postgres(t)
	_, nc, js := testenv.JetStream(t)
	deps := httpapi.Deps{
		Pool:         pool,
		NATS:         nc,
		Logger:       slog.New(slog.NewJSONHandler(t.Output(), nil)),
		AdminToken:   adminToken,
		MaxBodyBytes: maxBodyBytes,
		// Tests fire requests in bursts; the limiter has its own test.
		RateLimit: 1e6,
		RateBurst: 1e6,
	}
	for _, option := range options {
		option(&deps)
	}
	srv, err := httpapi.New(deps)
	if err != nil {
		t.Fatalf("new API: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &harness{url: ts.URL, pool: pool, nc: nc, js: js, srv: srv}
}

// createHook creates a hook as the admin and returns its document.
func (h *harness) createHook(t *testing.T, accountID, body string) map[string]any {
	t.Helper()
	return h.do(t, http.MethodPut, "/v1/accounts/"+accountID+"/webhooks", adminToken, body).expect(t, http.StatusCreated).data(t)
}

// watchHookChanges collects hooks.changed.<accountID> notifications.
func (h *harness) watchHookChanges(t *testing.T, accountID string) <-chan map[string]any {
	t.Helper()
	changes := make(chan map[string]any, 64)
	sub, err := h.nc.Subscribe(bus.HooksChangedSubject(accountID), func(m *nats.Msg) {
		var change map[string]any
		if json.Unmarshal(m.Data, &change) == nil {
			changes <- change
		}
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		t.Fatalf("flush subscription: %v", err)
	}
	return changes
}

// expectChange waits for the next hooks.changed notification and checks it.
func expectChange(t *testing.T, changes <-chan map[string]any, hookID, change string) {
	t.Helper()
	select {
	case got := <-changes:
		if got["hook_id"] != hookID || got["change"] != change {
			t.Fatalf("hooks.changed %v, want hook %s change %s", got, hookID, change)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no hooks.changed notification for %s %s", change, hookID)
	}
}

// response is a decoded API answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (h *harness) do(t *testing.T, method, path, token, body string, headers ...string) response {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, h.url+path, reader)
	if err != nil {
		t.Fatalf("build request: %v", err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, path, err, raw)
		}
	}
	return out
}

// expect fails unless the answer has the given status.
func (r response) expect(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	return r
}

// expectError checks Kazoo's error shape and, when field is set, that data
// names field and rule.
func (r response) expectError(t *testing.T, status int, field, rule string) {
	t.Helper()
	r.expect(t, status)
	if r.body["status"] != "error" || r.body["error"] != strconv.Itoa(status) {
		t.Fatalf("not a Kazoo error envelope: %s", r.raw)
	}
	if msg, _ := r.body["message"].(string); msg == "" {
		t.Fatalf("error without message: %s", r.raw)
	}
	data, ok := r.body["data"].(map[string]any)
	if !ok {
		t.Fatalf("error data is not an object: %s", r.raw)
	}
	if field == "" {
		return
	}
	rules, _ := data[field].(map[string]any)
	broken, _ := rules[rule].(map[string]any)
	if msg, _ := broken["message"].(string); msg == "" {
		t.Fatalf("want data.%s.%s.message, got %s", field, rule, r.raw)
	}
}

func (r response) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.body["data"].(map[string]any)
	if !ok || r.body["status"] != "success" {
		t.Fatalf("not a success envelope with an object: %s", r.raw)
	}
	return d
}

func (r response) list(t *testing.T) []any {
	t.Helper()
	d, ok := r.body["data"].([]any)
	if !ok || r.body["status"] != "success" {
		t.Fatalf("not a success envelope with a list: %s", r.raw)
	}
	return d
}

// accountToken makes an account and an API token for it, with scope
// "api" unless scopes are given.
func (h *harness) accountToken(t *testing.T, accountID, token string, scopes ...credential.Scope) {
	t.Helper()
	id := "tok_" + accountID
	if len(scopes) == 0 {
		scopes = credential.DefaultScopes
	} else {
		id += "_" + strings.Join(credential.Scopes(scopes).Strings(), "_")
	}
	q := store.New(h.pool)
	if err := q.EnsureAccount(t.Context(), accountID); err != nil {
		t.Fatalf("ensure account: %v", err)
	}
	_, err := q.CreateToken(t.Context(), store.CreateTokenParams{
		ID: id, AccountID: accountID, Name: "test", TokenHash: credential.Hash(token), Scopes: credential.Scopes(scopes).Strings(),
	})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
}

const wirecloudBody = `{"data":{"name":"New Calls", "uri":"http://my.server.com/calls/new.php", "http_verb":"post", "hook":"channel_create", "retries":3}}`

const wirecloudCustomDataBody = `{"data":{"name":"New Calls", "uri":"http://my.server.com/calls/new.php", "http_verb":"post", "hook":"channel_create", "retries":3,
"custom_data": {"account_id": "my_crm_account_id", "screen_pop": true}}}`
