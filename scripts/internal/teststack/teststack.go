// Package teststack runs the four pbxhooks services as separate OS processes
// for one test, against an in-process NATS server and a fresh PostgreSQL
// database, the way they run in production; and the callback receiver and
// polling helper such tests share.
package teststack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// AdminToken is the API admin token of every test stack.
const AdminToken = "e2e-admin-token-0123456789"

// Options shape a test stack.
type Options struct {
	// Env is extra environment for every service (KEY=VALUE).
	Env []string
	// ServiceEnv is extra environment for one service, by name.
	ServiceEnv map[string][]string
	// NATSURL is a NATS server to run against (say, one configured by
	// pkg/natsauth, with a user per service in ServiceEnv); empty starts an
	// open in-process server. With it, Stack.JS is nil: the test connects
	// as the user it needs.
	NATSURL string
	// LogTee, when set, also receives every service log line.
	LogTee io.Writer
}

// Stack is the running services; they are stopped when the test ends, and
// a service that does not stop cleanly fails the test.
type Stack struct {
	Cfg stack.Config
	// JS is a PBX-side JetStream connection to the services' NATS (nil
	// when Options.NATSURL was given).
	JS jetstream.JetStream
}

// Start builds the services (go build's cache makes a rebuild cheap),
// migrates a fresh database, starts every service and waits until each
// answers /readyz. Service logs go to the test log at debug level.
func Start(t *testing.T, opts Options) *Stack {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	// The services build in the workspace even when the calling test's
	// module is outside it (scripts/metricscheck runs with GOWORK=off).
	t.Setenv("GOWORK", filepath.Join(root, "go.work"))
	binDir := t.TempDir()
	if err := stack.Build(t.Context(), root, binDir); err != nil {
		t.Fatal(err)
	}
	natsURL := opts.NATSURL
	var js jetstream.JetStream
	if natsURL == "" {
		natsServer := testenv.NATS(t)
		_, js = natsServer.Connect(t)
		natsURL = natsServer.URL
	}
	linkKeys, err := medialink.NewKeySpec("e2e")
	if err != nil {
		t.Fatal(err)
	}
	cfg := stack.Config{
		BinDir: binDir, NATSURL: natsURL, DatabaseURL: testenv.PostgresURL(t), MediaLinkKeys: linkKeys,
		AdminToken: AdminToken, AllowCIDRs: "127.0.0.0/8", Out: testWriter{t, opts.LogTee},
		Env: append([]string{"LOG_LEVEL=debug"}, opts.Env...), ServiceEnv: opts.ServiceEnv,
	}
	for _, addr := range []*string{&cfg.APIAddr, &cfg.IngestAddr, &cfg.MatcherAddr, &cfg.DelivererAddr} {
		if *addr, err = stack.FreeAddr(); err != nil {
			t.Fatal(err)
		}
	}
	// Media links point at this stack's API.
	cfg.Env = append(cfg.Env, "PUBLIC_BASE_URL=http://"+cfg.APIAddr)
	if err := stack.Migrate(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	services, err := stack.StartAll(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := services.Stop(20 * time.Second); err != nil {
			t.Errorf("services did not stop cleanly: %v", err)
		}
	})
	return &Stack{Cfg: cfg, JS: js}
}

// URL is the base URL of a service's listener ("api", "ingest", "matcher",
// "deliverer").
func (s *Stack) URL(service string) string { return "http://" + s.Cfg.Addr(service) }

// API calls the API as the admin and decodes a JSON answer into out (when
// not nil); it returns the status.
func (s *Stack) API(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	return Call(t, method, s.URL("api")+path, body, http.Header{"X-Auth-Token": {s.Cfg.AdminToken}}, out)
}

// Call sends one JSON request and decodes a JSON answer into out (when not
// nil); it returns the status.
func Call(t *testing.T, method, url, body string, header http.Header, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode
}

// Receiver is a customer endpoint that records every callback and answers
// Status (200 when zero).
type Receiver struct {
	Status int
	mu     sync.Mutex
	calls  []Callback
}

// Callback is one request a Receiver got.
type Callback struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.calls = append(r.calls, Callback{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	r.mu.Unlock()
	w.WriteHeader(max(r.Status, http.StatusOK))
}

// Calls returns the callbacks received so far.
func (r *Receiver) Calls() []Callback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Callback(nil), r.calls...)
}

// testWriter sends service logs to the test log, shown on failure or -v,
// and to tee when set.
type testWriter struct {
	t   *testing.T
	tee io.Writer
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(b, "\n"))
	if w.tee != nil {
		_, _ = w.tee.Write(b)
	}
	return len(b), nil
}
