package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/store"
)

func TestAttemptsPagination(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", adminToken, wirecloudBody).expect(t, http.StatusCreated).data(t)["id"].(string)
	otherHook := h.do(t, http.MethodPut, "/v1/accounts/acct1/webhooks", adminToken, wirecloudBody).expect(t, http.StatusCreated).data(t)["id"].(string)
	h.do(t, http.MethodPut, "/v1/accounts/acct2/webhooks", adminToken, wirecloudBody).expect(t, http.StatusCreated)

	// The empty list is a page without a next key.
	empty := h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/attempts", adminToken, "").expect(t, http.StatusOK)
	if len(empty.list(t)) != 0 || empty.body["next_start_key"] != nil {
		t.Fatalf("empty attempts: %s", empty.raw)
	}

	status := int32(200)
	body := "ok"
	clientErr := "connection refused"
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	var rows []store.InsertAttemptsParams
	for i := range 5 {
		row := store.InsertAttemptsParams{
			AccountID: "acct1", HookID: hookID, EventID: fmt.Sprintf("ev%d", i), DeliveryID: fmt.Sprintf("dl%d", i),
			Attempt: 1, RetriesLeft: 3, Result: "success", RequestMethod: "POST", RequestUrl: "http://my.server.com/calls/new.php",
			RequestHeaders: json.RawMessage(`{"Content-Type":"application/json"}`),
			ResponseStatus: &status, ResponseHeaders: json.RawMessage(`{"Server":"x"}`), ResponseBody: &body,
			LatencyMs: int32(10 + i), CreatedAt: base.Add(time.Duration(i) * time.Minute),
		}
		if i == 4 {
			row.HookID = otherHook
			row.Result, row.Reason, row.ResponseStatus, row.ResponseHeaders, row.ResponseBody, row.ClientError =
				"failure", "connect failed", nil, nil, nil, &clientErr
		}
		rows = append(rows, row)
	}
	// Another account's attempts must never show.
	foreign := rows[0]
	foreign.AccountID, foreign.EventID = "acct2", "foreign"
	rows = append(rows, foreign)
	if _, err := store.New(h.pool).InsertAttempts(t.Context(), rows); err != nil {
		t.Fatalf("insert attempts: %v", err)
	}

	var events []string
	var lastID int64
	path := "/v1/accounts/acct1/webhooks/attempts?page_size=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := h.do(t, http.MethodGet, path, adminToken, "").expect(t, http.StatusOK)
		page := r.list(t)
		if len(page) == 0 || len(page) > 2 || r.body["page_size"] != float64(len(page)) {
			t.Fatalf("page %d: %s", pages, r.raw)
		}
		for _, item := range page {
			a := item.(map[string]any)
			id, err := strconv.ParseInt(a["id"].(string), 10, 64)
			if err != nil || (lastID != 0 && id >= lastID) {
				t.Fatalf("ids not newest first: %d after %d", id, lastID)
			}
			lastID = id
			events = append(events, a["event_id"].(string))
		}
		next, ok := r.body["next_start_key"].(string)
		if !ok {
			break
		}
		path = "/v1/accounts/acct1/webhooks/attempts?page_size=2&start_key=" + next
	}
	if fmt.Sprint(events) != "[ev4 ev3 ev2 ev1 ev0]" {
		t.Fatalf("events over all pages = %v", events)
	}

	first := h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/attempts", adminToken, "").expect(t, http.StatusOK).list(t)
	failed := first[0].(map[string]any)
	if failed["result"] != "failure" || failed["client_error"] != clientErr || failed["response"] != nil || failed["hook_id"] != otherHook {
		t.Fatalf("failed attempt: %v", failed)
	}
	ok := first[1].(map[string]any)
	wantTime := base.Add(3 * time.Minute).Format(time.RFC3339)
	req, _ := ok["request"].(map[string]any)
	resp, _ := ok["response"].(map[string]any)
	if ok["timestamp"] != wantTime || ok["latency_ms"] != 13.0 || ok["delivery_id"] != "dl3" || ok["retries_left"] != 3.0 ||
		req["method"] != "POST" || req["url"] != "http://my.server.com/calls/new.php" ||
		resp["status"] != 200.0 || resp["body"] != "ok" {
		t.Fatalf("attempt: %v", ok)
	}

	// Per hook: only that hook's attempts.
	perHook := h.do(t, http.MethodGet, "/v1/accounts/acct1/webhooks/"+otherHook+"/attempts", adminToken, "").expect(t, http.StatusOK).list(t)
	if len(perHook) != 1 || perHook[0].(map[string]any)["event_id"] != "ev4" {
		t.Fatalf("hook attempts: %v", perHook)
	}
}
