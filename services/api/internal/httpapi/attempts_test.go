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

// insertAttempts stores n attempts of hookID, one minute apart from base,
// alternating success and failure (even i succeeds).
func (h *harness) insertAttempts(t *testing.T, accountID, hookID string, base time.Time, n int) {
	t.Helper()
	status := int32(200)
	var rows []store.InsertAttemptsParams
	for i := range n {
		row := store.InsertAttemptsParams{
			AccountID: accountID, HookID: hookID, EventID: fmt.Sprintf("ev%d", i), DeliveryID: fmt.Sprintf("ev%d:%s", i, hookID),
			Attempt: 1, RetriesLeft: 2, Result: "success", RequestMethod: "POST", RequestUrl: "http://e.com/x", RequestHeaders: json.RawMessage(`{}`),
			ResponseStatus: &status, LatencyMs: 5, CreatedAt: base.Add(time.Duration(i) * time.Minute),
		}
		if i%2 == 1 {
			row.Result, row.Reason, row.ResponseStatus = "failure", "500 from receiver", nil
		}
		rows = append(rows, row)
	}
	if _, err := store.New(h.pool).InsertAttempts(t.Context(), rows); err != nil {
		t.Fatalf("insert attempts: %v", err)
	}
}

// eventIDs lists the event_id of each attempt of a page.
func eventIDs(t *testing.T, r response) []string {
	t.Helper()
	var ids []string
	for _, item := range r.list(t) {
		ids = append(ids, item.(map[string]any)["event_id"].(string))
	}
	return ids
}

func TestAttemptFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	h.insertAttempts(t, "acct1", hookID, base, 6) // ev0 at 12:00 ... ev5 at 12:05
	const attempts = "/v1/accounts/acct1/webhooks/attempts"
	hookAttempts := "/v1/accounts/acct1/webhooks/" + hookID + "/attempts"

	for _, tc := range []struct{ query, want string }{
		{"", "[ev5 ev4 ev3 ev2 ev1 ev0]"},
		{"?result=success", "[ev4 ev2 ev0]"},
		{"?result=failure", "[ev5 ev3 ev1]"},
		// from is inclusive, to exclusive.
		{"?from=2025-03-01T12:02:00Z", "[ev5 ev4 ev3 ev2]"},
		{"?to=2025-03-01T12:02:00Z", "[ev1 ev0]"},
		{"?from=2025-03-01T12:01:00Z&to=2025-03-01T12:04:00Z", "[ev3 ev2 ev1]"},
		{"?from=2025-03-01T13:01:00%2B01:00&to=2025-03-01T12:04:00.5Z&result=success", "[ev4 ev2]"},
		{"?from=2030-01-01T00:00:00Z", "[]"},
	} {
		for _, path := range []string{attempts, hookAttempts} {
			if got := fmt.Sprint(eventIDs(t, h.do(t, http.MethodGet, path+tc.query, adminToken, "").expect(t, http.StatusOK))); got != tc.want {
				t.Errorf("%s%s = %s, want %s", path, tc.query, got, tc.want)
			}
		}
	}

	// Filters hold across pages.
	var all []string
	path := attempts + "?result=failure&page_size=2"
	for range 5 {
		r := h.do(t, http.MethodGet, path, adminToken, "").expect(t, http.StatusOK)
		all = append(all, eventIDs(t, r)...)
		next, ok := r.body["next_start_key"].(string)
		if !ok {
			break
		}
		path = attempts + "?result=failure&page_size=2&start_key=" + next
	}
	if fmt.Sprint(all) != "[ev5 ev3 ev1]" {
		t.Fatalf("filtered pages: %v", all)
	}

	for _, tc := range []struct{ query, field, rule string }{
		{"?from=yesterday", "from", "format"},
		{"?to=2025-03-01", "to", "format"},
		{"?from=2025-03-01T12:00:00+01:00", "from", "format"}, // unencoded '+' arrives as a space
		{"?from=2025-03-01T12:00:00Z&to=2025-03-01T12:00:00Z", "to", "minimum"},
		{"?result=ok", "result", "enum"},
		{"?result=SUCCESS", "result", "enum"},
	} {
		h.do(t, http.MethodGet, attempts+tc.query, adminToken, "").expectError(t, http.StatusBadRequest, tc.field, tc.rule)
		h.do(t, http.MethodGet, hookAttempts+tc.query, adminToken, "").expectError(t, http.StatusBadRequest, tc.field, tc.rule)
	}
}

func TestAttemptPaginationBoundaries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.createHook(t, "acct1", wirecloudBody)["id"].(string)
	h.insertAttempts(t, "acct1", hookID, time.Now().Add(-time.Hour).UTC(), 4)
	const attempts = "/v1/accounts/acct1/webhooks/attempts"

	// A page exactly as large as the list has no next key.
	r := h.do(t, http.MethodGet, attempts+"?page_size=4", adminToken, "").expect(t, http.StatusOK)
	if len(r.list(t)) != 4 || r.body["next_start_key"] != nil || r.body["page_size"] != 4.0 {
		t.Fatalf("page_size=4 of 4: %s", r.raw)
	}
	// One fewer: a next key naming the last item.
	r = h.do(t, http.MethodGet, attempts+"?page_size=3", adminToken, "").expect(t, http.StatusOK)
	next, _ := r.body["next_start_key"].(string)
	if len(r.list(t)) != 3 || next == "" {
		t.Fatalf("page_size=3 of 4: %s", r.raw)
	}
	last := h.do(t, http.MethodGet, attempts+"?page_size=3&start_key="+next, adminToken, "").expect(t, http.StatusOK)
	if fmt.Sprint(eventIDs(t, last)) != "[ev0]" || last.body["next_start_key"] != nil || last.body["start_key"] != next {
		t.Fatalf("last page: %s", last.raw)
	}
	// page_size=1 walks every item once.
	var walked []string
	path := attempts + "?page_size=1"
	for range 10 {
		r := h.do(t, http.MethodGet, path, adminToken, "").expect(t, http.StatusOK)
		walked = append(walked, eventIDs(t, r)...)
		next, ok := r.body["next_start_key"].(string)
		if !ok {
			break
		}
		path = attempts + "?page_size=1&start_key=" + next
	}
	if fmt.Sprint(walked) != "[ev3 ev2 ev1 ev0]" {
		t.Fatalf("page_size=1 walk: %v", walked)
	}
	// A start key older than everything is an empty last page; one newer
	// than everything starts at the newest.
	if r := h.do(t, http.MethodGet, attempts+"?start_key=1", adminToken, "").expect(t, http.StatusOK); len(r.list(t)) > 1 || r.body["next_start_key"] != nil {
		t.Fatalf("start_key=1: %s", r.raw)
	}
	if got := fmt.Sprint(eventIDs(t, h.do(t, http.MethodGet, attempts+"?start_key=999999999", adminToken, "").expect(t, http.StatusOK))); got != "[ev3 ev2 ev1 ev0]" {
		t.Fatalf("start_key beyond the newest: %s", got)
	}
	// page_size bounds: 500 is allowed, 501 is not.
	h.do(t, http.MethodGet, attempts+"?page_size=500", adminToken, "").expect(t, http.StatusOK)
	h.do(t, http.MethodGet, attempts+"?page_size=501", adminToken, "").expectError(t, http.StatusBadRequest, "page_size", "maximum")
	h.do(t, http.MethodGet, attempts+"?start_key=-3", adminToken, "").expectError(t, http.StatusBadRequest, "start_key", "format")
}
