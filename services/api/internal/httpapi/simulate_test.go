package httpapi_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// fakeIngest records what the API sends to ingest and answers status. The
// whole path through the real ingest is the end-to-end test's
// (scripts/e2e TestSimulateRunsTheScenarioThroughIngest).
type fakeIngest struct {
	mu       sync.Mutex
	paths    []string
	auth     []string
	status   int
	response string
}

func (f *fakeIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.response)
}

func withIngest(url string) func(*httpapi.Deps) {
	return func(d *httpapi.Deps) { d.IngestURL = url }
}

func TestSimulateSendsTheScenarioToIngestAndAnswersTheCall(t *testing.T) {
	t.Parallel()
	ingest := &fakeIngest{status: http.StatusAccepted, response: `{"data":{"ids":["x"]}}`}
	srv := httptest.NewServer(ingest)
	defer srv.Close()
	h := newHarness(t, withIngest(srv.URL))
	h.createHook(t, "acct1", wirecloudBody)

	got := h.do(t, http.MethodPost, "/v1/accounts/acct1/simulate", adminToken,
		`{"data":{"scenario":"voicemail","from":"+15550100","direction":"outbound"}}`).expect(t, http.StatusAccepted).data(t)
	callID, _ := got["call_id"].(string)
	if got["scenario"] != "voicemail" || got["direction"] != "outbound" || !strings.HasSuffix(callID, "@pbxhooks.test") ||
		!strings.HasPrefix(got["thread_id"].(string), "test-") {
		t.Fatalf("answer %v", got)
	}
	raw, _ := json.Marshal(got["callbacks"])
	want := `[{"call_type":"outgoing_call","kind":"call","lifecycle":"channel_create","status":"ringing"},` +
		`{"call_type":"outgoing_call","kind":"call","lifecycle":"channel_destroy","status":"no_answer"},` +
		`{"kind":"media","media_type":"voicemail"}]`
	if string(raw) != want {
		t.Errorf("callbacks %s, want %s", raw, want)
	}
	ingest.mu.Lock()
	defer ingest.mu.Unlock()
	if strings.Join(ingest.paths, " ") != "/v1/accounts/acct1/events /v1/accounts/acct1/events /v1/accounts/acct1/media" {
		t.Errorf("ingest got %v", ingest.paths)
	}
	for _, a := range ingest.auth {
		if a != "Bearer "+adminToken {
			t.Errorf("ingest authorisation %q, want the admin token", a)
		}
	}
}

func TestSimulateRefusals(t *testing.T) {
	t.Parallel()
	refusing := httptest.NewServer(&fakeIngest{status: http.StatusBadRequest,
		response: `{"status":"error","error":"400","message":"invalid native event: from must be at most 512 bytes"}`})
	defer refusing.Close()
	h := newHarness(t, withIngest(refusing.URL))
	h.createHook(t, "acct1", wirecloudBody)
	h.accountToken(t, "acct2", "acct2-token-0123456789")
	const path = "/v1/accounts/acct1/simulate"

	h.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"ringing-forever"}}`).expectError(t, http.StatusBadRequest, "scenario", "enum")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{}}`).expectError(t, http.StatusBadRequest, "scenario", "required")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"busy","direction":"sideways"}}`).expectError(t, http.StatusBadRequest, "direction", "enum")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"busy","from":"`+strings.Repeat("1", 200)+`"}}`).expectError(t, http.StatusBadRequest, "from", "max_length")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"busy","to":"a\u0007b"}}`).expectError(t, http.StatusBadRequest, "to", "format")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"busy","from":5010}}`).expectError(t, http.StatusBadRequest, "from", "type")
	h.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"busy","caller":"x"}}`).expectError(t, http.StatusBadRequest, "caller", "unknown")
	h.do(t, http.MethodPost, path, "acct2-token-0123456789", `{"data":{"scenario":"busy"}}`).expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/nobody/simulate", adminToken, `{"data":{"scenario":"busy"}}`).expectError(t, http.StatusNotFound, "", "")

	r := h.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"busy"}}`)
	r.expectError(t, http.StatusBadGateway, "", "")
	if msg, _ := r.body["message"].(string); !strings.Contains(msg, "from must be at most 512 bytes") {
		t.Errorf("502 message %q does not pass on ingest's", msg)
	}

	// Ingest not listening at all.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()
	down := newHarness(t, withIngest(closed))
	down.createHook(t, "acct1", wirecloudBody)
	r = down.do(t, http.MethodPost, path, adminToken, `{"data":{"scenario":"busy"}}`)
	r.expectError(t, http.StatusServiceUnavailable, "", "")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}
