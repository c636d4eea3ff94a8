package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/relay"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// askRelay sends what the deliverer sends for a relay hook's delivery and
// returns the decoded answer.
func askRelay(t *testing.T, nc *nats.Conn, accountID, hookID string, req bus.RelayRequest) (bus.RelayResponse, error) {
	t.Helper()
	subject, err := bus.RelaySubject(accountID, hookID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	reply, err := nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return bus.RelayResponse{}, err
	}
	return bus.DecodeRelayResponse(reply.Data)
}

func TestRelayHandsRequestsToTheListenerAndRemovesItsHookWhenItLeaves(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const account, token = "acct-relay", "relay-token-0123456789abcdef"
	h.accountToken(t, account, token)
	changes := h.watchHookChanges(t, account)

	type seen struct {
		method, path, signature, body string
	}
	got := make(chan seen, 1)
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Webhook-Signature"), string(body)}
		w.Header().Set("X-Local", "yes")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "thanks")
	}))
	defer local.Close()

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	l, err := relay.Connect(ctx, relay.Options{APIURL: h.url, Token: token, AccountID: account, ForwardTo: local.URL + "/in"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	hook := l.Hook()
	expectChange(t, changes, hook.ID, "created")
	listed := h.do(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+hook.ID, token, "").expect(t, http.StatusOK).data(t)
	if listed["relay"] != true || listed["hook"] != "all" || listed["format"] != "json" || listed["name"] != httpapi.RelayHookName {
		t.Fatalf("relay hook as listed: %v", listed)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(ctx, nil) }()

	resp, err := askRelay(t, h.nc, account, hook.ID, bus.RelayRequest{
		Method: http.MethodPost, URL: local.URL + "/in",
		Header: http.Header{"Webhook-Signature": {"v1,abc"}, "Content-Type": {"application/json"}}, Body: []byte(`{"a":1}`),
	})
	if err != nil {
		t.Fatalf("relay request: %v", err)
	}
	if resp.Status != http.StatusAccepted || string(resp.Body) != "thanks" || resp.Header.Get("X-Local") != "yes" {
		t.Fatalf("relay answer %+v", resp)
	}
	if s := <-got; s.method != http.MethodPost || s.path != "/in" || s.signature != "v1,abc" || s.body != `{"a":1}` {
		t.Fatalf("local endpoint saw %+v", s)
	}

	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	expectChange(t, changes, hook.ID, "deleted")
	h.do(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+hook.ID, token, "").expect(t, http.StatusNotFound)
	if _, err := askRelay(t, h.nc, account, hook.ID, bus.RelayRequest{Method: http.MethodPost, URL: local.URL}); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("relay request after the listener left: %v, want no responders", err)
	}
}

func TestRelayReportsAnUnreachableLocalEndpointAsAnError(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const account, token = "acct-relay-down", "relay-token-down-0123456789"
	h.accountToken(t, account, token)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there now

	l, err := relay.Connect(t.Context(), relay.Options{APIURL: h.url, Token: token, AccountID: account, ForwardTo: down.URL})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer l.Close()
	go l.Serve(t.Context(), nil)
	resp, err := askRelay(t, h.nc, account, l.Hook().ID, bus.RelayRequest{Method: http.MethodPost, URL: down.URL})
	if err != nil {
		t.Fatalf("relay request: %v", err)
	}
	if resp.Error == "" || resp.Status != 0 {
		t.Fatalf("answer %+v, want the listener's connection error", resp)
	}
}

func TestRelayRefusesBadRequestsBeforeAnyHookExists(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const account, token = "acct-relay-bad", "relay-token-bad-0123456789"
	h.accountToken(t, account, token)
	path := "/v1/accounts/" + account + "/relay"

	h.do(t, http.MethodGet, path+"?forward_to=http://localhost:3000/hooks", token, "").
		expect(t, http.StatusUpgradeRequired)
	h.do(t, http.MethodGet, path, token, "").expectError(t, http.StatusBadRequest, relay.ParamForwardTo, "required")
	h.do(t, http.MethodGet, path+"?forward_to=ftp://x/", token, "").expectError(t, http.StatusBadRequest, relay.ParamForwardTo, "format")
	h.do(t, http.MethodGet, path+"?forward_to=http://localhost/&hook=call&call_statuses=missed,bogus", token, "").
		expectError(t, http.StatusBadRequest, relay.ParamCallStatuses, "enum")
	h.do(t, http.MethodGet, path+"?forward_to=http://localhost/&color=blue", token, "").
		expectError(t, http.StatusBadRequest, "color", "unknown")
	h.do(t, http.MethodGet, path+"?forward_to=http://localhost/", "", "").expect(t, http.StatusUnauthorized)

	if hooks := h.do(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks", token, "").expect(t, http.StatusOK).list(t); len(hooks) != 0 {
		t.Fatalf("refused relays left hooks: %v", hooks)
	}
}

func TestSweepRemovesRelayHooksWhoseLeaseRanOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const account, token = "acct-relay-sweep", "relay-token-sweep-0123456789"
	h.accountToken(t, account, token)
	changes := h.watchHookChanges(t, account)
	q := store.New(h.pool)
	insert := func(id string, lease time.Time) {
		_, err := q.InsertRelayHook(t.Context(), store.InsertRelayHookParams{
			ID: id, AccountID: account, Name: httpapi.RelayHookName, Uri: "http://localhost:3000/", HttpVerb: "post",
			Hook: "all", Retries: 2, CustomData: json.RawMessage(`{}`), Enabled: true, Format: "json",
			CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{},
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", LeaseExpiresAt: lease,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const crashed, alive = "0000000000000000000000000000dead", "00000000000000000000000000000a11"
	insert(crashed, time.Now().Add(-time.Second))
	insert(alive, time.Now().Add(time.Hour))
	ordinary := h.createHook(t, account, wirecloudBody)
	expectChange(t, changes, ordinary["id"].(string), "created")

	n, err := h.srv.SweepExpiredRelays(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 swept", n, err)
	}
	expectChange(t, changes, crashed, "deleted")
	h.do(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+crashed, token, "").expect(t, http.StatusNotFound)
	h.do(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+alive, token, "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+ordinary["id"].(string), token, "").expect(t, http.StatusOK)
}

func TestRelayOfAnotherAccountIsForbidden(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.accountToken(t, "acct-relay-one", "relay-token-one-0123456789")
	h.accountToken(t, "acct-relay-two", "relay-token-two-0123456789")
	_, err := relay.Connect(t.Context(), relay.Options{
		APIURL: h.url, Token: "relay-token-two-0123456789", AccountID: "acct-relay-one", ForwardTo: "http://localhost:3000/",
	})
	var refused *relay.RefusedError
	if !errors.As(err, &refused) || refused.Status != http.StatusForbidden {
		t.Fatalf("connect: %v, want 403", err)
	}
	if hooks := h.do(t, http.MethodGet, "/v1/accounts/acct-relay-one/webhooks", adminToken, "").expect(t, http.StatusOK).list(t); len(hooks) != 0 {
		t.Fatalf("hooks %v", hooks)
	}
}
