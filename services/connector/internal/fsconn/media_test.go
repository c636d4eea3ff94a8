package fsconn

import (
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/services/connector/internal/esltest"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/media"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// mediaRoute is ingest's media upload route as its contract says
// (POST /v1/accounts/{account}/media, multipart form, 202): it answers the
// first upload 503, as ingest does while JetStream is slow, and keeps the
// others' fields and file bytes.
type mediaRoute struct {
	mu      sync.Mutex
	calls   int
	uploads []map[string]string
}

func (m *mediaRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.calls++
	first := m.calls == 1
	m.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/accounts/acct1/media" || r.Header.Get("Authorization") != "Bearer pbx-token" {
		http.Error(w, `{"status":"error","error":"401"}`, http.StatusUnauthorized)
		return
	}
	if first {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"status":"error","error":"503"}`, http.StatusServiceUnavailable)
		return
	}
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, "bad type", http.StatusUnsupportedMediaType)
		return
	}
	form := map[string]string{}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(part)
		form[part.FormName()] = string(b)
	}
	m.mu.Lock()
	m.uploads = append(m.uploads, form)
	m.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"success","data":{"id":"` + form["id"] + `","media_id":"m1"}}`))
}

func (m *mediaRoute) got() (int, []map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls, append([]map[string]string(nil), m.uploads...)
}

// withMedia runs the connector with an uploader whose media root is the
// PBX's /srv/fsrun, seen by the connector in dir.
func withMedia(t *testing.T, r *running, route *mediaRoute, dir string) {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	jobs, err := spool.Open(t.TempDir(), 1<<20, "media")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(route)
	t.Cleanup(srv.Close)
	u := &media.Uploader{Jobs: jobs, Root: "/srv/fsrun", Dir: root, URL: srv.URL, Token: "pbx-token", AccountID: "acct1",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r.conn.Media = u
	ctx := t.Context()
	done := make(chan struct{})
	go func() { u.Run(ctx); close(done) }()
	t.Cleanup(func() { <-done })
}

func TestRecordingIsUploadedAfterARetry(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	dir := t.TempDir()
	// The recording the capture's RECORD_STOP names.
	if err := os.MkdirAll(filepath.Join(dir, "rec"), 0o700); err != nil {
		t.Fatal(err)
	}
	wav := "RIFF-test-recording"
	if err := os.WriteFile(filepath.Join(dir, "rec", "58e662db-7770-4a8c-833b-e3551fc8cab4.wav"), []byte(wav), 0o600); err != nil {
		t.Fatal(err)
	}
	proto := sessions(t, "proto.txt")
	srv := esltest.Start(t, esltest.Options{
		Sessions: sessions(t, "disconnect.txt"), Idle: idleSession(t), ClientCommands: ours,
		Answers: map[string][]byte{"api show channels as json": replyTo(t, proto, "api show channels as json")},
	})
	route := &mediaRoute{}
	r := startConnectorWith(t, n, srv.Addr(), "ClueCon", 1<<20, func(r *running) { withMedia(t, r, route, dir) })
	_ = r
	testenv.Eventually(t, 20*time.Second, "the upload", func() bool { _, u := route.got(); return len(u) == 1 })
	calls, uploads := route.got()
	up := uploads[0]
	if calls != 2 || up["type"] != "call_recording" || up["call_id"] != "58e662db-7770-4a8c-833b-e3551fc8cab4" || up["file"] != wav ||
		up["filename"] != "58e662db-7770-4a8c-833b-e3551fc8cab4.wav" || up["content_type"] != "audio/wav" || !strings.HasPrefix(up["id"], "fs-") {
		t.Errorf("%d calls, upload %v", calls, up)
	}
}

func TestVoicemailAppRecordingWaitsForItsMessage(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	proto := sessions(t, "proto.txt")
	vm := sessions(t, "vm_json.txt")
	srv := esltest.Start(t, esltest.Options{
		Sessions: vm, Idle: idleSession(t), ClientCommands: ours,
		Answers: map[string][]byte{"api show channels as json": replyTo(t, proto, "api show channels as json")},
	})
	route := &mediaRoute{}
	startConnectorWith(t, n, srv.Addr(), "ClueCon", 1<<20, func(r *running) { withMedia(t, r, route, t.TempDir()) })
	want := eventBodies(t, vm[0]...)
	testenv.Eventually(t, 20*time.Second, "the call", func() bool { return len(n.stored(t)) >= len(want) })
	// The message was discarded: no vm::maintenance, no upload, and the
	// voicemail application's own RECORD_STOP is not a call recording.
	if calls, _ := route.got(); calls != 0 {
		t.Errorf("%d uploads of a discarded voicemail message", calls)
	}
}
