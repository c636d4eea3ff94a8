package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pbxhooks/pbxhooks/pkg/relay"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// relayAccountToken creates account (with a token) and returns the token.
func relayAccountToken(t *testing.T, st *teststack.Stack, account string) string {
	t.Helper()
	var created struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if status := st.API(t, http.MethodPut, "/v1/accounts/"+account+"/tokens", `{"data":{"name":"listen"}}`, &created); status != http.StatusCreated || created.Data.Token == "" {
		t.Fatalf("create token for %s: status %d", account, status)
	}
	return created.Data.Token
}

// relayHooks lists the account's hooks as the API shows them.
type listedHook struct {
	ID    string `json:"id"`
	URI   string `json:"uri"`
	Relay bool   `json:"relay"`
}

func listHooks(t *testing.T, st *teststack.Stack, account string) []listedHook {
	t.Helper()
	var listed struct {
		Data []listedHook `json:"data"`
	}
	if status := st.API(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks", "", &listed); status != http.StatusOK {
		t.Fatalf("list hooks: status %d", status)
	}
	return listed.Data
}

type relayAttempt struct {
	Attempt  int    `json:"attempt"`
	Result   string `json:"result"`
	Reason   string `json:"reason"`
	Response *struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	} `json:"response"`
}

func hookAttempts(t *testing.T, st *teststack.Stack, account, hookID string) []relayAttempt {
	t.Helper()
	var out struct {
		Data []relayAttempt `json:"data"`
	}
	st.API(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+hookID+"/attempts", "", &out)
	return out.Data
}

// signedReceiver is a local endpoint that verifies every request with the
// Standard Webhooks library and answers the statuses given, then 200.
type signedReceiver struct {
	secret   func() string
	statuses []int

	mu       sync.Mutex
	calls    int
	verified []error
	bodies   [][]byte
}

func (r *signedReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	wh, err := standardwebhooks.NewWebhook(r.secret())
	if err == nil {
		err = wh.Verify(body, req.Header)
	}
	r.mu.Lock()
	status := http.StatusOK
	if r.calls < len(r.statuses) {
		status = r.statuses[r.calls]
	}
	r.calls++
	r.verified = append(r.verified, err)
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, "local answer %d", status)
}

func (r *signedReceiver) snapshot() (calls int, verified []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, append([]error(nil), r.verified...)
}

func publishChannelCreate(t *testing.T, st *teststack.Stack, account, eventID, callID string) {
	t.Helper()
	event := `{"event":"channel_create","id":"` + eventID + `","call_id":"` + callID + `","direction":"inbound",` +
		`"from":"+15556783945@pbx.example.com","to":"+15552345678@pbx.example.com","timestamp":"2026-11-22T10:00:00Z"}`
	if _, err := st.JS.Publish(t.Context(), "pbx.events."+account, []byte(event)); err != nil {
		t.Fatalf("PBX publish: %v", err)
	}
}

func TestListenForwardsSignedRequestsRetriesFailuresAndCleansUp(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	const account = "acct-relay"
	token := relayAccountToken(t, st, account)

	var listener *relay.Listener
	recv := &signedReceiver{secret: func() string { return listener.Hook().Secret },
		statuses: []int{http.StatusInternalServerError}}
	local := httptest.NewServer(recv)
	defer local.Close()

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var err error
	listener, err = relay.Connect(ctx, relay.Options{
		APIURL: st.URL("api"), Token: token, AccountID: account,
		ForwardTo: local.URL + "/hooks", Hook: "channel_create",
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	hook := listener.Hook()
	if hook.ID == "" || hook.Hook != "channel_create" || hook.Format != "json" || hook.Secret == "" {
		t.Fatalf("relay hook %+v", hook)
	}
	hooks := listHooks(t, st, account)
	if len(hooks) != 1 || hooks[0].ID != hook.ID || !hooks[0].Relay || hooks[0].URI != local.URL+"/hooks" {
		t.Fatalf("listing %+v, want the one relay hook %s", hooks, hook.ID)
	}

	var reports []relay.Delivery
	var reportsMu sync.Mutex
	served := make(chan error, 1)
	go func() {
		served <- listener.Serve(ctx, func(d relay.Delivery) {
			reportsMu.Lock()
			reports = append(reports, d)
			reportsMu.Unlock()
		})
	}()

	publishChannelCreate(t, st, account, "relay-evt-1", "relay-call-1")

	// The local 500 is recorded and retried (after the schedule's first
	// step), then the 200 is.
	var attempts []relayAttempt
	testenv.Eventually(t, 60*time.Second, "a failed then a successful attempt", func() bool {
		attempts = hookAttempts(t, st, account, hook.ID)
		return len(attempts) == 2
	})
	byNumber := map[int]relayAttempt{}
	for _, a := range attempts {
		byNumber[a.Attempt] = a
	}
	first, second := byNumber[1], byNumber[2]
	if first.Result != "failure" || first.Response == nil || first.Response.Status != http.StatusInternalServerError ||
		first.Response.Body != "local answer 500" {
		t.Errorf("attempt 1 = %+v, want the local 500", first)
	}
	if second.Result != "success" || second.Response == nil || second.Response.Status != http.StatusOK ||
		second.Response.Body != "local answer 200" {
		t.Errorf("attempt 2 = %+v, want the local 200", second)
	}
	calls, verified := recv.snapshot()
	if calls != 2 {
		t.Fatalf("local endpoint got %d requests, want 2", calls)
	}
	for i, err := range verified {
		if err != nil {
			t.Errorf("request %d: Standard Webhooks verification with the relay hook's secret: %v", i+1, err)
		}
	}
	reportsMu.Lock()
	got := append([]relay.Delivery(nil), reports...)
	reportsMu.Unlock()
	if len(got) != 2 || got[0].Code != http.StatusInternalServerError || got[1].Code != http.StatusOK ||
		got[1].Event != "channel_create" || got[1].Call != "relay-call-1" || got[0].WebhookID != got[1].WebhookID {
		t.Errorf("listener reported %+v", got)
	}

	// Ctrl-C: the listener leaves, the relay hook goes with it.
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	testenv.Eventually(t, 15*time.Second, "the relay hook deleted", func() bool {
		return len(listHooks(t, st, account)) == 0
	})
}

func TestRelayConnectionDroppedRemovesTheHookAndOtherAccountsAreRefused(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	const account, other = "acct-relay-a", "acct-relay-b"
	token := relayAccountToken(t, st, account)
	otherToken := relayAccountToken(t, st, other)

	// Another account's token may not open a relay on this account.
	_, err := relay.Connect(t.Context(), relay.Options{
		APIURL: st.URL("api"), Token: otherToken, AccountID: account, ForwardTo: "http://127.0.0.1:1/hooks",
	})
	var refused *relay.RefusedError
	if !errors.As(err, &refused) || refused.Status != http.StatusForbidden {
		t.Fatalf("connect with another account's token: %v, want 403", err)
	}
	// An invalid filter is refused before any upgrade, with the field named.
	_, err = relay.Connect(t.Context(), relay.Options{
		APIURL: st.URL("api"), Token: token, AccountID: account, ForwardTo: "http://127.0.0.1:1/hooks",
		Hook: "call", CallStatuses: []string{"bogus"},
	})
	if !errors.As(err, &refused) || refused.Status != http.StatusBadRequest || !json.Valid([]byte(refused.Body)) {
		t.Fatalf("connect with a bad filter: %v, want 400 with the error envelope", err)
	}
	if hooks := listHooks(t, st, account); len(hooks) != 0 {
		t.Fatalf("refused relays left hooks: %+v", hooks)
	}

	var forwarded atomic.Int32
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { forwarded.Add(1) }))
	defer local.Close()
	listener, err := relay.Connect(t.Context(), relay.Options{
		APIURL: st.URL("api"), Token: token, AccountID: account, ForwardTo: local.URL,
		Hook: "call", CallTypes: []string{"incoming_call"}, CallStatuses: []string{"missed"},
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if h := listener.Hook(); h.Hook != "call" || len(h.CallTypes) != 1 || h.CallTypes[0] != "incoming_call" ||
		len(h.CallStatuses) != 1 || h.CallStatuses[0] != "missed" {
		t.Fatalf("relay hook filter %+v", h)
	}
	if hooks := listHooks(t, st, account); len(hooks) != 1 || !hooks[0].Relay {
		t.Fatalf("listing %+v, want one relay hook", hooks)
	}
	if hooks := listHooks(t, st, other); len(hooks) != 0 {
		t.Fatalf("the other account sees hooks %+v", hooks)
	}
	// The connection breaks without a close handshake (a killed CLI).
	if err := listener.Abort(); err != nil {
		t.Fatalf("abort: %v", err)
	}
	testenv.Eventually(t, 15*time.Second, "the relay hook deleted", func() bool {
		return len(listHooks(t, st, account)) == 0
	})
	if n := forwarded.Load(); n != 0 {
		t.Fatalf("local endpoint got %d requests", n)
	}
}
