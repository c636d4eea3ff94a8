// Package e2e drives the four pbxhooks services as separate OS processes
// against one real NATS server and one real PostgreSQL database, the way
// they run in production.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/testenv"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
)

const adminToken = "e2e-admin-token-0123456789"

// receiver records every callback it gets.
type receiver struct {
	mu    sync.Mutex
	calls []receivedCall
}

type receivedCall struct {
	Method string
	Header http.Header
	Body   []byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.calls = append(r.calls, receivedCall{Method: req.Method, Header: req.Header.Clone(), Body: body})
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) snapshot() []receivedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedCall(nil), r.calls...)
}

func startStack(t *testing.T) (stack.Config, jetstream.JetStream) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	if err := stack.Build(t.Context(), root, binDir); err != nil {
		t.Fatal(err)
	}
	natsServer := testenv.NATS(t)
	_, js := natsServer.Connect(t)
	linkKeys, err := medialink.NewKeySpec("e2e")
	if err != nil {
		t.Fatal(err)
	}
	cfg := stack.Config{
		BinDir: binDir, NATSURL: natsServer.URL, DatabaseURL: testenv.PostgresURL(t), MediaLinkKeys: linkKeys,
		AdminToken: adminToken, AllowCIDRs: "127.0.0.0/8", Out: testWriter{t}, Env: []string{"LOG_LEVEL=debug"},
	}
	for _, addr := range []*string{&cfg.APIAddr, &cfg.IngestAddr, &cfg.MatcherAddr, &cfg.DelivererAddr} {
		if *addr, err = stack.FreeAddr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := stack.Migrate(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	services, err := stack.StartAll(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := services.Stop(20 * time.Second); err != nil {
			t.Errorf("services did not stop cleanly: %v", err)
		}
	})
	return cfg, js
}

func TestChannelCreateTravelsFromNATSToCallbackAndAttempt(t *testing.T) {
	cfg, js := startStack(t)
	recv := &receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()

	const account = "acct-e2e"
	var created struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	status := apiCall(t, cfg, http.MethodPut, "/v1/accounts/"+account+"/webhooks",
		`{"data":{"name":"New Calls","uri":"`+target.URL+`/calls/new","http_verb":"post","hook":"channel_create","format":"json","retries":3}}`,
		&created)
	if status != http.StatusCreated || created.Data.ID == "" {
		t.Fatalf("create hook: status %d, id %q", status, created.Data.ID)
	}

	event := `{"event":"channel_create","id":"e2e-evt-1","call_id":"call-e2e-1","direction":"inbound",` +
		`"from":"+15556783945@pbx.example.com","from_name":"Test Man","to":"+15552345678@pbx.example.com",` +
		`"to_name":"Sales","request":"+15552345678@pbx.example.com","timestamp":"2026-11-22T10:00:00Z"}`
	if _, err := js.Publish(t.Context(), "pbx.events."+account, []byte(event)); err != nil {
		t.Fatalf("PBX publish: %v", err)
	}

	calls := waitFor(t, 30*time.Second, "one callback", func() ([]receivedCall, bool) {
		c := recv.snapshot()
		return c, len(c) >= 1
	})
	got := calls[0]
	if got.Method != http.MethodPost {
		t.Errorf("method %s, want POST", got.Method)
	}
	if h := got.Header.Get("X-Hook-ID"); h != created.Data.ID {
		t.Errorf("X-Hook-ID %q, want %q", h, created.Data.ID)
	}
	if h := got.Header.Get("X-Account-ID"); h != account {
		t.Errorf("X-Account-ID %q, want %q", h, account)
	}
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("callback body is not JSON: %v: %s", err, got.Body)
	}
	want := map[string]any{
		"hook_event": "channel_create", "call_id": "call-e2e-1", "account_id": account,
		"call_direction": "inbound", "from": "+15556783945@pbx.example.com",
		"to": "+15552345678@pbx.example.com", "request": "+15552345678@pbx.example.com",
		"caller_id_name": "Test Man",
		// 2026-11-22T10:00:00Z in Gregorian seconds (Unix + 62167219200).
		"timestamp": "63962560800",
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %#v, want %#v (body %s)", k, body[k], v, got.Body)
		}
	}

	type attempt struct {
		HookID string `json:"hook_id"`
		Result string `json:"result"`
	}
	var attempts struct {
		Data []attempt `json:"data"`
	}
	waitFor(t, 15*time.Second, "a success attempt in the API", func() (struct{}, bool) {
		apiCall(t, cfg, http.MethodGet, "/v1/accounts/"+account+"/webhooks/attempts", "", &attempts)
		return struct{}{}, len(attempts.Data) == 1
	})
	if a := attempts.Data[0]; a.Result != "success" || a.HookID != created.Data.ID {
		t.Fatalf("attempt %+v, want a success for hook %s", a, created.Data.ID)
	}
	if n := len(recv.snapshot()); n != 1 {
		t.Fatalf("receiver got %d callbacks, want exactly 1", n)
	}
}

func apiCall(t *testing.T, cfg stack.Config, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, "http://"+cfg.Addr("api")+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", cfg.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

// waitFor polls check until it reports done or the deadline passes.
func waitFor[T any](t *testing.T, limit time.Duration, what string, check func() (T, bool)) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	for {
		v, done := check()
		if done {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// testWriter sends service logs to the test log, shown on failure or -v.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}
