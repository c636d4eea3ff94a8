package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// deadLetter stores one rejected input for accountID the way ingest does.
func (h *harness) deadLetter(t *testing.T, accountID string, body []byte, reason string) {
	t.Helper()
	headers := nats.Header{}
	headers.Set(bus.HeaderAccountID, accountID)
	if err := bus.PublishDeadLetter(t.Context(), h.js, "pbx.events."+accountID, headers, body, reason); err != nil {
		t.Fatalf("publish dead letter: %v", err)
	}
}

func TestDeadLetters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.createHook(t, "acct_a", wirecloudBody)
	h.createHook(t, "acct_b", wirecloudBody)
	const path = "/v1/accounts/acct_a/events/deadletter"

	// None yet: an empty page.
	if r := h.do(t, http.MethodGet, path, adminToken, "").expect(t, http.StatusOK); len(r.list(t)) != 0 || r.body["next_start_key"] != nil {
		t.Fatalf("empty: %s", r.raw)
	}

	before := time.Now().Add(-time.Second)
	for i := range 7 {
		h.deadLetter(t, "acct_a", fmt.Appendf(nil, `{"n":%d}`, i), fmt.Sprintf("reason %d", i))
		// Another tenant's dead letters interleave on the stream.
		h.deadLetter(t, "acct_b", fmt.Appendf(nil, `{"b":%d}`, i), "foreign")
	}
	// A large body with invalid UTF-8, newest of all.
	big := append([]byte{0xff, 0xfe}, []byte(strings.Repeat("é", 5000))...)
	h.deadLetter(t, "acct_a", big, "not JSON")

	first := h.do(t, http.MethodGet, path+"?page_size=3", adminToken, "").expect(t, http.StatusOK)
	items := first.list(t)
	if len(items) != 3 {
		t.Fatalf("first page: %s", first.raw)
	}
	newest := items[0].(map[string]any)
	body := newest["body"].(string)
	if newest["reason"] != "not JSON" || newest["source"] != "pbx.events.acct_a" || newest["truncated"] != true ||
		newest["size_bytes"] != float64(len(big)) || len(body) > httpapi.MaxDeadLetterBodyBytes+8 || !utf8.ValidString(body) ||
		!strings.HasPrefix(body, "\uFFFDé") {
		t.Fatalf("newest dead letter: reason %v source %v truncated %v size %v body %d bytes valid %v",
			newest["reason"], newest["source"], newest["truncated"], newest["size_bytes"], len(body), utf8.ValidString(body))
	}
	received, err := time.Parse(time.RFC3339Nano, newest["received"].(string))
	if err != nil || received.Before(before) {
		t.Fatalf("received %v (%v)", newest["received"], err)
	}
	second := items[1].(map[string]any)
	if second["body"] != `{"n":6}` || second["reason"] != "reason 6" || second["truncated"] != false {
		t.Fatalf("second: %v", second)
	}

	// Walk every page: each of acct_a's letters once, newest first.
	var reasons []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		q := path + "?page_size=3"
		if next != "" {
			q += "&start_key=" + next
		}
		r := h.do(t, http.MethodGet, q, adminToken, "").expect(t, http.StatusOK)
		for _, item := range r.list(t) {
			reasons = append(reasons, item.(map[string]any)["reason"].(string))
		}
		n, ok := r.body["next_start_key"].(string)
		if !ok {
			break
		}
		next = n
	}
	want := "[not JSON reason 6 reason 5 reason 4 reason 3 reason 2 reason 1 reason 0]"
	if fmt.Sprint(reasons) != want {
		t.Fatalf("walked %v, want %s", reasons, want)
	}
	// page_size equal to the count: no next key.
	if r := h.do(t, http.MethodGet, path+"?page_size=8", adminToken, "").expect(t, http.StatusOK); len(r.list(t)) != 8 || r.body["next_start_key"] != nil {
		t.Fatalf("page of all 8: %s", r.raw)
	}

	h.do(t, http.MethodGet, path+"?page_size=101", adminToken, "").expectError(t, http.StatusBadRequest, "page_size", "maximum")
	h.do(t, http.MethodGet, path+"?start_key=x", adminToken, "").expectError(t, http.StatusBadRequest, "start_key", "format")
	h.do(t, http.MethodGet, "/v1/accounts/nobody/events/deadletter", adminToken, "").expectError(t, http.StatusNotFound, "", "")

	// No consumer is left on the stream.
	stream, err := h.js.Stream(t.Context(), bus.StreamDeadLetter)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("%d consumers left on %s", info.State.Consumers, bus.StreamDeadLetter)
	}
}

// TestDeadLettersSparse checks a tenant whose few dead letters are far
// apart in a stream full of others', which takes several scan windows.
func TestDeadLettersSparse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.createHook(t, "acct_a", wirecloudBody)
	for i := range 3 {
		h.deadLetter(t, "acct_a", fmt.Appendf(nil, "a%d", i), fmt.Sprintf("a%d", i))
		for j := range 60 {
			h.deadLetter(t, "acct_b", fmt.Appendf(nil, "b%d-%d", i, j), "b")
		}
	}
	r := h.do(t, http.MethodGet, "/v1/accounts/acct_a/events/deadletter?page_size=2", adminToken, "").expect(t, http.StatusOK)
	var got []string
	for _, item := range r.list(t) {
		got = append(got, item.(map[string]any)["body"].(string))
	}
	next, _ := r.body["next_start_key"].(string)
	if fmt.Sprint(got) != "[a2 a1]" || next == "" {
		t.Fatalf("first page %v next %q", got, next)
	}
	r = h.do(t, http.MethodGet, "/v1/accounts/acct_a/events/deadletter?page_size=2&start_key="+next, adminToken, "").expect(t, http.StatusOK)
	if items := r.list(t); len(items) != 1 || items[0].(map[string]any)["body"] != "a0" || r.body["next_start_key"] != nil {
		t.Fatalf("last page: %s", r.raw)
	}
}
