package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/freeswitch"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/native"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// lockedBuffer is a log sink written by the server's goroutines and read by
// the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// The log lines of a request carry the trace the PBX started with its
// traceparent header: ingest's logger is the services' JSON logger, and
// every line logged while handling the request passes the request's span.
func TestLogLinesOfARequestCarryItsTrace(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	out := &lockedBuffer{}
	log, err := telemetry.NewLogger(out, "ingest", "debug")
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := newTestAuth(t, credential.Options{})
	m := mediaStore(t, js, testMaxMediaBytes)
	s, err := New(Deps{
		Log: log, NC: nc, JS: js, Publisher: publish.New(js, nil), Pipeline: newPipeline(t, js, log, m, testLimits),
		Adapters: []adapter.Adapter{native.Adapter(), freeswitch.Adapter(freeswitch.Options{})},
		Limits:   testLimits, Media: m, Auth: auth,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	send := func(path, body string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		req.Header.Set("X-Auth-Token", testAdminToken)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	// Ignored input (a debug line) and rejected input (an info line).
	send("/v1/accounts/acct1/events/freeswitch", `{"Event-Name":"HEARTBEAT"}`)
	send("/v1/accounts/acct1/events", `{"event":"channel_create"}`)

	seen := map[string]bool{}
	for _, line := range out.lines() {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		msg, _ := rec["msg"].(string)
		if msg != "input ignored" && msg != "event rejected" {
			continue
		}
		seen[msg] = true
		if rec["trace_id"] != traceID || rec["span_id"] == nil {
			t.Errorf("%q logged with trace_id %v span_id %v, want the request's trace %s: %s", msg, rec["trace_id"], rec["span_id"], traceID, line)
		}
	}
	for _, msg := range []string{"input ignored", "event rejected"} {
		if !seen[msg] {
			t.Errorf("no %q line logged:\n%s", msg, strings.Join(out.lines(), "\n"))
		}
	}
}
