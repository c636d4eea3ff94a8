package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ari"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/chanstate"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// An ARI event whose channel state cannot be read is not the sender's
// fault: 503 with Retry-After, and nothing dead-lettered.
func TestARIStateOutageIs503(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	kv, err := bus.EnsureChannelStateBucket(t.Context(), js, 1)
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := newTestAuth(t, credential.Options{})
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	m := mediaStore(t, js, testMaxMediaBytes)
	s, err := New(Deps{
		Log: log, NC: nc, JS: js, Publisher: publish.New(js, nil), Pipeline: newPipeline(t, js, log, m, testLimits),
		Adapters: []adapter.Adapter{ari.Adapter(ari.Options{Channels: chanstate.KV{KV: kv}})},
		Limits:   testLimits, Media: m, Auth: auth,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	if err := js.DeleteKeyValue(t.Context(), bus.ChannelStateBucket); err != nil {
		t.Fatal(err)
	}
	body := `{"type":"ChannelCreated","timestamp":"2026-03-04T05:06:07.250+0000","channel":{"id":"1.1","state":"Ring","caller":{"number":"100"}}}`
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/accounts/acct1/events/ari", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(credential.HeaderAuthToken, testAdminToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamDeadLetter)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}
