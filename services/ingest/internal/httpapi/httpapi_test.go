package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/accept"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ari"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/freeswitch"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/native"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
	"github.com/pbxhooks/pbxhooks/testkit/natsembed"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestMain(m *testing.M) {
	// Real spans, so the test can see the trace cross from HTTP into NATS.
	shutdown, err := telemetry.SetupTracing(context.Background(), "ingest-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = shutdown(context.Background())
	os.Exit(code)
}

var testLimits = Limits{MaxEventBytes: 1024, MaxBatchEvents: 3, PublishTimeout: 5 * time.Second}

// newIntake builds the intake with media files up to testMaxMediaBytes.
func newIntake(t testing.TB, nc *nats.Conn, js jetstream.JetStream, limits Limits) *Server {
	t.Helper()
	s, _ := newAuthIntake(t, nc, js, limits, credential.Options{})
	return s
}

// newAuthIntake builds the intake with an authenticator on a fresh
// database, shaped by opts (cache, throttle), and returns that database.
func newAuthIntake(t testing.TB, nc *nats.Conn, js jetstream.JetStream, limits Limits, opts credential.Options) (*Server, *pgxpool.Pool) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	auth, pool := newTestAuth(t, opts)
	m := mediaStore(t, js, testMaxMediaBytes)
	s, err := New(Deps{
		Log: log, NC: nc, JS: js, Publisher: publish.New(js, nil), Pipeline: newPipeline(t, js, log, m, limits),
		Adapters: []adapter.Adapter{native.Adapter(), freeswitch.Adapter(freeswitch.Options{}), ari.Adapter(ari.Options{})},
		Limits:   limits, Media: m, Auth: auth,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, pool
}

// newPipeline is the intake pipeline main builds for limits.
func newPipeline(t testing.TB, js jetstream.JetStream, log *slog.Logger, m *media.Store, limits Limits) *accept.Pipeline {
	t.Helper()
	p, err := accept.New(accept.Deps{
		JS: js, Publisher: publish.New(js, nil), Media: m, Log: log,
		MaxEventBytes: limits.MaxEventBytes, PublishTimeout: limits.PublishTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestAuth is an authenticator that knows testAdminToken and the
// account tokens of a fresh database, which it returns.
func newTestAuth(t testing.TB, opts credential.Options) (*credential.Authenticator, *pgxpool.Pool) {
	t.Helper()
	_, pool := testenv.Postgres(t)
	admin, err := credential.NewAdminToken(testAdminToken)
	if err != nil {
		t.Fatal(err)
	}
	opts.Admin = admin
	if opts.Tokens == nil {
		opts.Tokens = credential.NewPostgresTokens(pool)
	}
	auth, err := credential.NewAuthenticator(opts)
	if err != nil {
		t.Fatal(err)
	}
	return auth, pool
}

func newServer(t *testing.T, nc *nats.Conn, js jetstream.JetStream, limits Limits) *httptest.Server {
	t.Helper()
	srv, _ := newAuthServer(t, nc, js, limits, credential.Options{})
	return srv
}

// newAuthServer serves newAuthIntake over HTTP. The server's Client()
// sends the admin token on requests that carry no credential, so tests of
// other things need not; tests of authentication use their own client.
func newAuthServer(t *testing.T, nc *nats.Conn, js jetstream.JetStream, limits Limits, opts credential.Options) (*httptest.Server, *pgxpool.Pool) {
	t.Helper()
	s, pool := newAuthIntake(t, nc, js, limits, opts)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	srv.Client().Transport = adminByDefault{next: srv.Client().Transport}
	return srv, pool
}

const testAdminToken = "admin-token-for-tests-0123456789"

// adminByDefault adds the admin token to requests without a credential.
type adminByDefault struct{ next http.RoundTripper }

func (a adminByDefault) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get(credential.HeaderAuthToken) == "" && r.Header.Get(credential.HeaderAuthorization) == "" {
		r = r.Clone(r.Context())
		r.Header.Set(credential.HeaderAuthToken, testAdminToken)
	}
	return a.next.RoundTrip(r)
}

func setup(t *testing.T) (*httptest.Server, jetstream.JetStream) {
	t.Helper()
	_, nc, js := testenv.JetStream(t)
	return newServer(t, nc, js, testLimits), js
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, srv *httptest.Server, account, contentType, body string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/accounts/"+account+"/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatalf("answer %d is not JSON: %v", resp.StatusCode, err)
	}
	return a
}

func ids(t *testing.T, a answer) []string {
	t.Helper()
	data, _ := a.body["data"].(map[string]any)
	raw, _ := data["ids"].([]any)
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i], _ = v.(string)
	}
	return out
}

const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

func TestAcceptedEventIsStoredOnEvents(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	a := post(t, srv, "acct1", "application/json",
		`{"event":"channel_create","id":"pbx-1","call_id":"c1","direction":"outbound","from":"100","to":"200"}`,
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if a.status != http.StatusAccepted || strings.Join(ids(t, a), ",") != "pbx-1" {
		t.Fatalf("answer %d %v, want 202 with ids [pbx-1]", a.status, a.body)
	}
	// 202 promises the event is already stored: no waiting here.
	msgs := testenv.StoredMsgs(t, js, bus.StreamEvents)
	if len(msgs) != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "events.acct1.call.outgoing_call.ringing" {
		t.Errorf("subject %q", m.Subject)
	}
	if got := m.Header.Get(bus.HeaderMsgID); got != "acct1/pbx-1" {
		t.Errorf("Nats-Msg-Id %q, want acct1/pbx-1", got)
	}
	if tp := m.Header.Get(bus.HeaderTraceparent); !strings.HasPrefix(tp, "00-"+traceID+"-") {
		t.Errorf("traceparent %q does not continue the caller's trace", tp)
	}
	var ev pbxhooksv1.Event
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		t.Fatalf("stored event: %v", err)
	}
	if ev.GetId() != "pbx-1" || ev.GetCallId() != "c1" || ev.GetAccountId() != "acct1" || ev.GetFrom() != "100" || ev.GetSource() != "native" {
		t.Errorf("stored event %v", &ev)
	}
}

func TestDuplicatesAreStoredOnce(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	withID := `{"event":"channel_answer","id":"same","call_id":"c1"}`
	withoutID := `{"event":"channel_answer","call_id":"c2"}`
	var derived []string
	for range 2 {
		if a := post(t, srv, "acct1", "application/json", withID); a.status != http.StatusAccepted {
			t.Fatalf("answer %d %v", a.status, a.body)
		}
		a := post(t, srv, "acct1", "application/json; charset=utf-8", withoutID)
		if a.status != http.StatusAccepted {
			t.Fatalf("answer %d %v", a.status, a.body)
		}
		derived = append(derived, ids(t, a)...)
	}
	if len(derived) != 2 || derived[0] != derived[1] || len(derived[0]) != 32 {
		t.Errorf("derived ids %v: want the same 32-character id twice", derived)
	}
	// The same id under another account is another event.
	if a := post(t, srv, "acct2", "application/json", withID); a.status != http.StatusAccepted {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	msgs := testenv.StoredMsgs(t, js, bus.StreamEvents)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Header.Get(bus.HeaderMsgID))
	}
	want := []string{"acct1/same", "acct1/" + derived[0], "acct2/same"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stored %v, want %v", got, want)
	}
}

func TestInvalidEventIsAnswered400AndDeadLettered(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	body := `{"event":"channel_create","direction":"sideways"}`
	a := post(t, srv, "acct1", "application/json", body)
	if a.status != http.StatusBadRequest || a.body["status"] != "error" || a.body["error"] != "400" {
		t.Fatalf("answer %d %v, want a 400 error", a.status, a.body)
	}
	data, _ := a.body["data"].(map[string]any)
	for field, rule := range map[string]string{"call_id": "required", "direction": "enum"} {
		rules, _ := data[field].(map[string]any)
		detail, _ := rules[rule].(map[string]any)
		if msg, _ := detail["message"].(string); !strings.Contains(msg, field) {
			t.Errorf("data.%s.%s.message = %q; data = %v", field, rule, msg, data)
		}
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamEvents)); n != 0 {
		t.Errorf("EVENTS holds %d messages, want 0", n)
	}
	dead := testenv.StoredMsgs(t, js, bus.StreamDeadLetter)
	if len(dead) != 1 {
		t.Fatalf("DEADLETTER holds %d messages, want 1", len(dead))
	}
	d := dead[0]
	reason := d.Header.Get(bus.HeaderDeadLetterReason)
	if string(d.Data) != body || !strings.Contains(reason, "call_id is required") || !strings.Contains(reason, "direction must be one of") {
		t.Errorf("dead letter %q with reason %q", d.Data, reason)
	}
	if got := d.Header.Get(bus.HeaderAccountID); got != "acct1" {
		t.Errorf("dead letter account %q", got)
	}
	if got := d.Header.Get(bus.HeaderDeadLetterSource); got != "POST /v1/accounts/acct1/events" {
		t.Errorf("dead letter source %q", got)
	}
}

func TestMalformedJSONIsDeadLettered(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	for _, body := range []string{`{"event":`, `[{"event":"channel_create"`} {
		a := post(t, srv, "acct1", "application/json", body)
		data, _ := a.body["data"].(map[string]any)
		if a.status != http.StatusBadRequest || data["body"] == nil {
			t.Errorf("%s: answer %d %v, want 400 naming the body", body, a.status, a.body)
		}
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamDeadLetter)); n != 2 {
		t.Errorf("DEADLETTER holds %d messages, want 2", n)
	}
}

func TestBatchReportsEachItem(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	a := post(t, srv, "acct1", "application/json",
		`[{"event":"channel_create","call_id":"c1"},{"event":"channel_create"},{"event":"channel_destroy","call_id":"c1","hangup_cause":"USER_BUSY"}]`)
	if a.status != http.StatusAccepted || len(ids(t, a)) != 2 {
		t.Fatalf("answer %d %v, want 202 with two ids", a.status, a.body)
	}
	data, _ := a.body["data"].(map[string]any)
	rejected, _ := data["rejected"].([]any)
	if len(rejected) != 1 {
		t.Fatalf("rejected %v, want one item", data["rejected"])
	}
	item, _ := rejected[0].(map[string]any)
	if item["index"] != float64(1) || !strings.Contains(fmt.Sprint(item["data"]), "call_id") {
		t.Errorf("rejected item %v", item)
	}
	var subjects []string
	for _, m := range testenv.StoredMsgs(t, js, bus.StreamEvents) {
		subjects = append(subjects, m.Subject)
	}
	want := "events.acct1.call.incoming_call.ringing events.acct1.call.incoming_call.busy"
	if got := strings.Join(subjects, " "); got != want {
		// Batch items are published concurrently; order is not promised.
		if got != "events.acct1.call.incoming_call.busy events.acct1.call.incoming_call.ringing" {
			t.Errorf("stored subjects %v", subjects)
		}
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamDeadLetter)); n != 1 {
		t.Errorf("DEADLETTER holds %d messages, want 1", n)
	}

	a = post(t, srv, "acct1", "application/json", `[{"event":"channel_create"},{"event":"nope","call_id":"c"}]`)
	data, _ = a.body["data"].(map[string]any)
	if a.status != http.StatusBadRequest || data["[0].call_id"] == nil || data["[1].event"] == nil {
		t.Errorf("all-invalid batch: answer %d %v, want 400 with [i].field keys", a.status, a.body)
	}
	if a := post(t, srv, "acct1", "application/json", `[]`); a.status != http.StatusBadRequest {
		t.Errorf("empty batch: answer %d %v", a.status, a.body)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	event := func(pad int) string {
		return `{"event":"channel_create","call_id":"c1","x":"` + strings.Repeat("p", pad) + `"}`
	}
	tests := []struct {
		name, account, contentType, body string
		want                             int
	}{
		{"event over the limit", "acct1", "application/json", event(1100), http.StatusRequestEntityTooLarge},
		{"body over the batch limit", "acct1", "application/json", "[" + strings.Repeat(event(900)+",", 3) + event(900) + "]", http.StatusRequestEntityTooLarge},
		{"too many events", "acct1", "application/json", "[" + strings.Repeat(event(0)+",", 3) + event(0) + "]", http.StatusRequestEntityTooLarge},
		{"form content type", "acct1", "application/x-www-form-urlencoded", event(0), http.StatusUnsupportedMediaType},
		{"no content type", "acct1", "", event(0), http.StatusUnsupportedMediaType},
		{"bad account", "acct%20one", "application/json", event(0), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, srv, tt.account, tt.contentType, tt.body)
			if a.status != tt.want || a.body["status"] != "error" || a.body["error"] != fmt.Sprint(tt.want) {
				t.Errorf("answer %d %v, want %d", a.status, a.body, tt.want)
			}
		})
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamEvents)); n != 0 {
		t.Errorf("EVENTS holds %d messages, want 0", n)
	}
	// One oversized item in an accepted batch is rejected alone.
	a := post(t, srv, "acct1", "application/json", "["+event(0)+","+event(1100)+"]")
	if a.status != http.StatusAccepted || len(ids(t, a)) != 1 {
		t.Errorf("batch with one oversized item: answer %d %v", a.status, a.body)
	}
}

func TestRoutesAndProbes(t *testing.T) {
	t.Parallel()
	srv, _ := setup(t)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404, "/v1/accounts/acct1/events": 405} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestUnacknowledgedPublishIs503(t *testing.T) {
	t.Parallel()
	ns, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(t.Context(), js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	limits := testLimits
	limits.PublishTimeout = 300 * time.Millisecond
	srv := newServer(t, nc, js, limits)
	ns.Shutdown()

	a := post(t, srv, "acct1", "application/json", `{"event":"channel_create","call_id":"c1"}`)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || a.body["error"] != "503" {
		t.Errorf("answer %d %v (Retry-After %q), want 503 with Retry-After", a.status, a.body, a.header.Get("Retry-After"))
	}
	resp, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz = %d with NATS down, want 503", resp.StatusCode)
	}
}
