package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// fakeMatcher answers resend requests as the matcher would, with reply, and
// keeps the requests. The matcher's side of the contract has its own tests
// (services/matcher fanout) and the whole path its end-to-end test.
type fakeMatcher struct {
	mu       sync.Mutex
	requests []bus.ResendRequest
}

func (h *harness) fakeMatcher(t *testing.T, reply bus.ResendReply) *fakeMatcher {
	t.Helper()
	m := &fakeMatcher{}
	sub, err := h.nc.QueueSubscribe(bus.SubjectResendRequests, bus.QueueMatcher, func(msg *nats.Msg) {
		var req bus.ResendRequest
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			t.Errorf("resend request is not JSON: %s", msg.Data)
		}
		m.mu.Lock()
		m.requests = append(m.requests, req)
		m.mu.Unlock()
		data, _ := json.Marshal(reply)
		_ = msg.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := h.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *fakeMatcher) got() []bus.ResendRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]bus.ResendRequest(nil), m.requests...)
}

// attemptRow is one attempt of a delivery for the tests below.
func attemptRow(accountID, hookID, eventID, result string, attempt int32, at time.Time) store.InsertAttemptsParams {
	return store.InsertAttemptsParams{
		AccountID: accountID, HookID: hookID, EventID: eventID, DeliveryID: bus.DeliveryID(eventID, hookID),
		Attempt: attempt, Result: result, RequestMethod: "POST", RequestUrl: "http://e.com/x",
		RequestHeaders: json.RawMessage(`{}`), CreatedAt: at,
	}
}

func (h *harness) storeAttempts(t *testing.T, rows ...store.InsertAttemptsParams) {
	t.Helper()
	if _, err := store.New(h.pool).InsertAttempts(t.Context(), rows); err != nil {
		t.Fatalf("insert attempts: %v", err)
	}
}

func TestResendAsksTheMatcherForTheDeliveryAndAnswers202(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	first := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	h.storeAttempts(t,
		attemptRow("acct1", hookID, "ev-1", "failure", 1, first),
		attemptRow("acct1", hookID, "ev-1", "failure", 2, first.Add(time.Minute)))
	matcher := h.fakeMatcher(t, bus.ResendReply{})

	deliveryID := bus.DeliveryID("ev-1", hookID)
	got := h.do(t, http.MethodPost, "/v1/accounts/acct1/deliveries/"+deliveryID+"/resend", adminToken, "").expect(t, http.StatusAccepted).data(t)
	if got["delivery_id"] != deliveryID || got["hook_id"] != hookID || got["event_id"] != "ev-1" || got["resend_id"] == "" {
		t.Fatalf("answer %v", got)
	}
	reqs := matcher.got()
	if len(reqs) != 1 {
		t.Fatalf("%d resend requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.AccountID != "acct1" || req.HookID != hookID || req.EventID != "ev-1" || req.ResendID != got["resend_id"] ||
		!req.EventStoredBefore.Equal(first) {
		t.Fatalf("request %+v, want the delivery's first attempt at %s", req, first)
	}

	// A second resend is a resend of its own.
	again := h.do(t, http.MethodPost, "/v1/accounts/acct1/deliveries/"+deliveryID+"/resend", adminToken, "").expect(t, http.StatusAccepted).data(t)
	if again["resend_id"] == got["resend_id"] {
		t.Fatal("two resends share a resend id")
	}
}

func TestResendRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	h.accountToken(t, "acct2", "acct2-token-0123456789")
	h.storeAttempts(t, attemptRow("acct1", hookID, "ev-1", "failure", 1, time.Now()))
	deliveryID := bus.DeliveryID("ev-1", hookID)
	path := "/v1/accounts/acct1/deliveries/" + deliveryID + "/resend"

	// Nobody answers: 503 with Retry-After, nothing claimed.
	r := h.do(t, http.MethodPost, path, adminToken, "")
	r.expectError(t, http.StatusServiceUnavailable, "", "")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// Another account's token, and another account's path for the delivery.
	h.do(t, http.MethodPost, path, "acct2-token-0123456789", "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/acct2/deliveries/"+deliveryID+"/resend", "acct2-token-0123456789", "").
		expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/acct1/deliveries/ev-unknown:"+hookID+"/resend", adminToken, "").
		expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/acct1/deliveries/"+strings.Repeat("x", 600)+"/resend", adminToken, "").
		expectError(t, http.StatusBadRequest, "delivery_id", "max_length")
	h.do(t, http.MethodPost, path, "", "").expectError(t, http.StatusUnauthorized, "", "")

	// The matcher no longer finds the event: 404 with its reason.
	h.fakeMatcher(t, bus.ResendReply{Error: "the event is no longer stored", NotFound: true})
	r = h.do(t, http.MethodPost, path, adminToken, "")
	r.expectError(t, http.StatusNotFound, "", "")
	if msg, _ := r.body["message"].(string); !strings.Contains(msg, "no longer stored") {
		t.Errorf("message %q does not say why", msg)
	}
}

func TestRecoverListsAndResendsTheHooksFailedDeliveriesSince(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	otherID := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	h.storeAttempts(t,
		attemptRow("acct1", hookID, "failed-twice", "failure", 1, since.Add(time.Minute)),
		attemptRow("acct1", hookID, "failed-twice", "failure", 2, since.Add(2*time.Minute)),
		attemptRow("acct1", hookID, "recovered", "failure", 1, since.Add(3*time.Minute)),
		attemptRow("acct1", hookID, "recovered", "success", 2, since.Add(4*time.Minute)),
		attemptRow("acct1", hookID, "failed-later", "failure", 1, since.Add(5*time.Minute)),
		attemptRow("acct1", hookID, "failed-before", "failure", 1, since.Add(-time.Minute)),
		attemptRow("acct1", otherID, "other-hook", "failure", 1, since.Add(time.Minute)))
	base := "/v1/accounts/acct1/webhooks/" + hookID + "/recover"
	body := `{"data":{"since":"` + since.Format(time.RFC3339) + `","dry_run":true}}`

	matcher := h.fakeMatcher(t, bus.ResendReply{})
	dry := h.do(t, http.MethodPost, base, adminToken, body).expect(t, http.StatusOK).data(t)
	if ids := recoveredIDs(dry); strings.Join(ids, " ") != "failed-twice:"+hookID+" failed-later:"+hookID {
		t.Fatalf("dry run lists %v", ids)
	}
	if dry["truncated"] != false || len(matcher.got()) != 0 {
		t.Fatalf("dry run: truncated %v, %d resend requests", dry["truncated"], len(matcher.got()))
	}
	first := dry["deliveries"].([]any)[0].(map[string]any)
	if first["last_attempt"] != 2.0 || first["resent"] != false {
		t.Errorf("first delivery %v", first)
	}

	limited := h.do(t, http.MethodPost, base, adminToken, `{"data":{"since":"`+since.Format(time.RFC3339)+`","limit":1}}`).
		expect(t, http.StatusAccepted).data(t)
	if ids := recoveredIDs(limited); len(ids) != 1 || ids[0] != "failed-twice:"+hookID || limited["truncated"] != true ||
		limited["next_since"] != since.Add(5*time.Minute).Format(time.RFC3339) {
		t.Fatalf("limit 1: %v", limited)
	}
	resent := limited["deliveries"].([]any)[0].(map[string]any)
	reqs := matcher.got()
	if resent["resent"] != true || len(reqs) != 1 || reqs[0].EventID != "failed-twice" || reqs[0].ResendID != resent["resend_id"] {
		t.Fatalf("resent %v after requests %+v", resent, reqs)
	}
}

func recoveredIDs(data map[string]any) []string {
	var ids []string
	for _, d := range data["deliveries"].([]any) {
		ids = append(ids, d.(map[string]any)["delivery_id"].(string))
	}
	return ids
}

func TestRecoverRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	h.accountToken(t, "acct2", "acct2-token-0123456789")
	base := "/v1/accounts/acct1/webhooks/" + hookID + "/recover"
	h.do(t, http.MethodPost, base, adminToken, `{"data":{"since":"yesterday"}}`).expectError(t, http.StatusBadRequest, "since", "format")
	h.do(t, http.MethodPost, base, adminToken, `{"data":{"dry_run":true}}`).expectError(t, http.StatusBadRequest, "since", "required")
	h.do(t, http.MethodPost, base, adminToken, `{"data":{"since":"2026-01-02T15:04:05Z","dry_run":"yes"}}`).expectError(t, http.StatusBadRequest, "dry_run", "type")
	h.do(t, http.MethodPost, base, adminToken, `{"data":{"since":"2026-01-02T15:04:05Z","limit":1000}}`).expectError(t, http.StatusBadRequest, "limit", "maximum")
	h.do(t, http.MethodPost, base, adminToken, `{"data":{"since":"2026-01-02T15:04:05Z","until":"x"}}`).expectError(t, http.StatusBadRequest, "until", "unknown")
	h.do(t, http.MethodPost, base, adminToken, "").expectError(t, http.StatusBadRequest, "", "")
	h.do(t, http.MethodPost, base, "acct2-token-0123456789", `{"data":{"since":"2026-01-02T15:04:05Z"}}`).expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/acct1/webhooks/0123456789abcdef0123456789abcdef/recover", adminToken,
		`{"data":{"since":"2026-01-02T15:04:05Z"}}`).expectError(t, http.StatusNotFound, "", "")
}
