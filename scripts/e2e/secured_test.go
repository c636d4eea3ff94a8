package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// TestServicesRunWithOnlyTheirOwnNATSUsers runs the four services against a
// NATS server configured by natsauth (what `api nats-config` prints), each
// service with its own user, and a PBX with its account's user. Every path
// that touches NATS works: PBX input to a callback, hook-change notices, a
// test event, the dead-letter listing, a media upload with its download
// link, an auto-disable notice. No service hits a permission violation,
// and the PBX is refused another account's subject.
func TestServicesRunWithOnlyTheirOwnNATSUsers(t *testing.T) {
	const account, other = "acct-secure", "acct-other"
	url, passwords := testenv.SecuredNATS(t, account, other)

	serviceEnv := map[string][]string{}
	for _, svc := range natsauth.Services {
		user := natsauth.ServiceUser(svc)
		serviceEnv[svc] = []string{"NATS_USER=" + user, "NATS_PASSWORD=" + passwords[user]}
	}
	violations := &lineRecorder{}
	// Reported however the test ends: a missing permission usually shows
	// first as a step that times out.
	t.Cleanup(func() {
		if v := violations.snapshot(); len(v) > 0 {
			t.Errorf("services hit NATS permission violations:\n%s", strings.Join(v, "\n"))
		}
	})
	st := teststack.Start(t, teststack.Options{NATSURL: url, ServiceEnv: serviceEnv, LogTee: violations})

	var pbxErrs errorList
	pbxUser := natsauth.PBXUser(account)
	nc, err := nats.Connect(url, nats.UserInfo(pbxUser, passwords[pbxUser]), nats.Timeout(30*time.Second),
		nats.CustomInboxPrefix(bus.PBXInboxPrefix(account)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { pbxErrs.add(err) }))
	if err != nil {
		t.Fatalf("PBX connects: %v", err)
	}
	t.Cleanup(nc.Close)
	pbx, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()
	createHook := func(name, uri string, kind apiclient.HookKind) string {
		t.Helper()
		return st.CreateHook(t, account, apiclient.HookDocument{Name: name, Uri: uri, Hook: kind, Format: new(apiclient.PayloadFormatJson)}).Id
	}
	callHook := createHook("calls", target.URL+"/calls", apiclient.HookKindChannelCreate)
	createHook("media", target.URL+"/media", apiclient.HookKindMedia)
	goneHook := createHook("gone", gone.URL+"/gone", apiclient.HookKindChannelCreate)
	api := st.Client(t)

	// PBX input over NATS reaches the receiver.
	ev := `{"event":"channel_create","id":"secure-1","call_id":"secure-call-1","direction":"inbound","from":"+15550001","to":"5010"}`
	if _, err := pbx.Publish(t.Context(), "pbx.events."+account, []byte(ev)); err != nil {
		t.Fatalf("PBX publishes on its own account's subject: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the call callback", func() bool {
		return len(callbacksTo(recv, "/calls")) == 1
	})

	// Another account's subject: the server refuses it, nothing is stored.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err = pbx.Publish(ctx, "pbx.events."+other, []byte(strings.Replace(ev, "secure-1", "secure-2", 1)))
	cancel()
	if err == nil {
		t.Fatal("the PBX got a PubAck for another account's subject")
	}
	testenv.Eventually(t, 5*time.Second, "the server's permission violation", func() bool {
		return pbxErrs.has(`Permissions Violation for Publish to "pbx.events.` + other + `"`)
	})

	// The 410 hook is disabled by the deliverer, which announces it.
	testenv.Eventually(t, 30*time.Second, "the 410 hook to be disabled", func() bool {
		hook, err := api.GetHookWithResponse(t.Context(), account, goneHook)
		return err == nil && hook.JSON200 != nil && !hook.JSON200.Data.Enabled
	})

	// Invalid PBX input is dead-lettered and listed by the API.
	if _, err := pbx.Publish(t.Context(), "pbx.events."+account, []byte(`{"event":"channel_create","direction":"sideways"}`)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the dead letter in the API", func() bool {
		letters, err := api.ListDeadLettersWithResponse(t.Context(), account, nil)
		return err == nil && letters.JSON200 != nil && len(letters.JSON200.Data) == 1
	})

	// A test event of the call hook comes back as an attempt.
	tested, err := api.TestHookWithResponse(t.Context(), account, callHook)
	if err != nil {
		t.Fatalf("test hook: %v", err)
	}
	if tested.JSON200 == nil || tested.JSON200.Data.HookId != callHook {
		t.Fatalf("test hook: status %d, want 200 with the attempt: %s", tested.StatusCode(), tested.Body)
	}

	// A media upload reaches the media hook with a link that downloads it.
	mediaID := uploadMedia(t, st, account, "a secured recording")
	var calls []teststack.Callback
	testenv.Eventually(t, 30*time.Second, "the media callback", func() bool {
		calls = callbacksTo(recv, "/media")
		return len(calls) == 1
	})
	var body map[string]any
	if err := json.Unmarshal(calls[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	link, _ := body["attachments"].(string)
	if !strings.Contains(link, "/v1/media/"+mediaID+"?") {
		t.Fatalf("media callback %s: no link to %s", calls[0].Body, mediaID)
	}
	if status, got := download(t, link); status != http.StatusOK || string(got) != "a secured recording" {
		t.Fatalf("download: %d %q", status, got)
	}
}

// callbacksTo is what recv got on one URL path.
func callbacksTo(recv *teststack.Receiver, path string) []teststack.Callback {
	var out []teststack.Callback
	for _, c := range recv.Calls() {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// lineRecorder keeps the log lines that report a NATS permission
// violation; safe for concurrent writers.
type lineRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *lineRecorder) Write(b []byte) (int, error) {
	if bytes.Contains(bytes.ToLower(b), []byte("permissions violation")) {
		r.mu.Lock()
		r.lines = append(r.lines, string(b))
		r.mu.Unlock()
	}
	return len(b), nil
}

func (r *lineRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// errorList collects a connection's asynchronous errors.
type errorList struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorList) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorList) has(fragment string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), fragment) {
			return true
		}
	}
	return false
}
