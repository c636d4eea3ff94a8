package deliver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/autodisable"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// verify checks a received request with the Standard Webhooks reference
// library, not with our own signer.
func verify(t *testing.T, secret string, req receivedRequest) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("reference library rejects the secret %q: %v", secret, err)
	}
	return wh.Verify(req.body, req.header)
}

func TestSignatureVerifiesWithTheReferenceLibrary(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, "")
	h := startDeliverer(t, options{allow: loopbackAllowed})
	hook := h.newHook(t, recv.srv.URL, 0)
	d := newDelivery(hook)
	h.publish(t, d)
	h.waitAcked(t)

	got := recv.received()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	if err := verify(t, hook.Secret, got[0]); err != nil {
		t.Fatalf("signature does not verify: %v (headers %v)", err, got[0].header)
	}
	if err := verify(t, newSecret(), got[0]); err == nil {
		t.Fatal("a different secret verifies the signature")
	}
	tampered := got[0]
	tampered.body = append([]byte(nil), tampered.body...)
	tampered.body[0] = '['
	if err := verify(t, hook.Secret, tampered); err == nil {
		t.Fatal("a tampered body verifies")
	}
	if ts := got[0].header.Get("webhook-timestamp"); ts == "" || got[0].header.Get("webhook-signature") == "" {
		t.Fatalf("missing signature headers: %v", got[0].header)
	}
}

func TestGETHookSignsTheEmptyBody(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, "")
	h := startDeliverer(t, options{allow: loopbackAllowed})
	hook := h.newHook(t, recv.srv.URL, 0)
	d := newDelivery(hook)
	d.Method, d.Url, d.ContentType, d.Body = "GET", hook.Uri+"?hook_event=channel_create&call_id=c1", "", nil
	h.publish(t, d)
	h.waitAcked(t)

	got := recv.received()
	if len(got) != 1 || got[0].method != "GET" || len(got[0].body) != 0 {
		t.Fatalf("receiver got %+v, want one GET without a body", got)
	}
	if err := verify(t, hook.Secret, got[0]); err != nil {
		t.Fatalf("GET signature over the empty body does not verify: %v", err)
	}
}

func TestRotationOverlapSignsWithBothSecretsThenOnlyTheNew(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusOK, "")
	h := startDeliverer(t, options{allow: loopbackAllowed})
	hook := h.newHook(t, recv.srv.URL, 0)
	oldSecret, newSecretValue := hook.Secret, newSecret()

	// Rotate with an overlap, as the API does, and announce it.
	rotate := func(expiresAt time.Time) {
		t.Helper()
		if _, err := h.pool.Exec(t.Context(), `UPDATE hooks SET previous_secret = $2, previous_secret_expires_at = $3,
			secret = $4, revision = revision + 1, modified_at = now() WHERE id = $1`,
			hook.ID, oldSecret, expiresAt, newSecretValue); err != nil {
			t.Fatalf("rotate: %v", err)
		}
		if err := h.nc.Publish(bus.HooksChangedSubject(hook.AccountID), []byte(`{}`)); err != nil {
			t.Fatalf("notice: %v", err)
		}
		if err := h.nc.Flush(); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	// Load the hook into the cache first, so the rotation must reach the
	// deliverer through the change notice, not a cold cache.
	h.publish(t, newDelivery(hook))
	h.waitAcked(t)

	rotate(time.Now().Add(time.Hour))
	// The notice is asynchronous; deliver until the new secret signs.
	var overlap receivedRequest
	testenv.Eventually(t, 10*time.Second, "a delivery signed with the new secret", func() (bool, string) {
		h.publish(t, newDelivery(hook))
		h.waitAcked(t)
		got := recv.received()
		overlap = got[len(got)-1]
		return verify(t, newSecretValue, overlap) == nil, overlap.header.Get("webhook-signature")
	})
	if err := verify(t, oldSecret, overlap); err != nil {
		t.Fatalf("during the overlap the old secret must verify too: %v", err)
	}
	if n := len(strings.Fields(overlap.header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("overlap signature has %d parts, want 2: %q", n, overlap.header.Get("webhook-signature"))
	}

	rotate(time.Now().Add(-time.Second)) // the overlap is over
	var after receivedRequest
	testenv.Eventually(t, 10*time.Second, "a delivery signed with the new secret only", func() (bool, string) {
		h.publish(t, newDelivery(hook))
		h.waitAcked(t)
		got := recv.received()
		after = got[len(got)-1]
		return len(strings.Fields(after.header.Get("webhook-signature"))) == 1, after.header.Get("webhook-signature")
	})
	if err := verify(t, newSecretValue, after); err != nil {
		t.Fatalf("after the overlap the new secret must verify: %v", err)
	}
	if err := verify(t, oldSecret, after); err == nil {
		t.Fatal("after the overlap the old secret still verifies")
	}
}

// subscribe collects core NATS notices on subject.
func subscribe(t *testing.T, nc *nats.Conn, subject string) func() []*nats.Msg {
	t.Helper()
	var mu sync.Mutex
	var got []*nats.Msg
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() []*nats.Msg {
		mu.Lock()
		defer mu.Unlock()
		return append([]*nats.Msg(nil), got...)
	}
}

func TestGoneDisablesTheHookAtOnceAndStopsRetrying(t *testing.T) {
	t.Parallel()
	recv := newReceiver(t, http.StatusGone, "bye")
	h := startDeliverer(t, options{allow: loopbackAllowed,
		schedule: deliver.RetrySchedule{Steps: []time.Duration{10 * time.Millisecond}, Then: 10 * time.Millisecond}})
	hook := h.newHook(t, recv.srv.URL, 3)
	disabledNotices := subscribe(t, h.nc, bus.HooksDisabledSubject(hook.AccountID))
	changedNotices := subscribe(t, h.nc, bus.HooksChangedSubject(hook.AccountID))
	d := newDelivery(hook)
	h.publish(t, d)
	h.waitAcked(t)

	if n := len(recv.received()); n != 1 {
		t.Fatalf("receiver got %d requests, want 1: 410 must stop the retries", n)
	}
	rows := h.attemptsOf(t, d)
	if len(rows) != 1 || rows[0].RetriesLeft != 0 || rows[0].Result != "failure" || !strings.Contains(rows[0].Reason, "410") {
		t.Fatalf("attempts = %+v", rows)
	}
	after := h.hook(t, hook.ID)
	if after.Enabled || after.DisableReason != autodisable.ReasonGone || after.Revision != hook.Revision+1 {
		t.Fatalf("hook after 410: enabled %v reason %q revision %d (was %d)", after.Enabled, after.DisableReason, after.Revision, hook.Revision)
	}
	testenv.Eventually(t, 5*time.Second, "hooks.disabled and hooks.changed notices", func() (bool, string) {
		return len(disabledNotices()) == 1 && len(changedNotices()) == 1, ""
	})
	var notice bus.HookDisabled
	if err := json.Unmarshal(disabledNotices()[0].Data, &notice); err != nil || notice.HookID != hook.ID ||
		notice.AccountID != hook.AccountID || notice.Reason != autodisable.ReasonGone {
		t.Fatalf("disabled notice = %s (%v)", disabledNotices()[0].Data, err)
	}
}

func TestRetryAfterOverridesTheSchedule(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	calls := 0
	recv := newReceiverFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// The schedule alone would wait an hour: the retry arriving at all
	// proves Retry-After was used.
	h := startDeliverer(t, options{allow: loopbackAllowed, schedule: deliver.RetrySchedule{Then: time.Hour}})
	d := newDelivery(h.newHook(t, recv.srv.URL, 2))
	h.publish(t, d)
	h.waitAcked(t)

	rows := h.attemptsOf(t, d)
	if len(rows) != 2 || rows[0].Result != "failure" || rows[1].Result != "success" || rows[1].Attempt != 2 || rows[1].RetriesLeft != 1 {
		t.Fatalf("attempts = %+v", rows)
	}
	if rows[0].Reason != "HTTP 503 (Retry-After 1s)" {
		t.Fatalf("reason = %q", rows[0].Reason)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"soon", 0, false},
		{"-5", 0, false},
		{"0", time.Second, true},
		{"30", 30 * time.Second, true},
		{"86400", time.Hour, true},
		{"99999999999999999", time.Hour, true},
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), time.Second, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour, true},
	} {
		got, ok := deliver.ParseRetryAfter(tc.value, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %s %v, want %s %v", tc.value, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAutoDisableAfterRepeatedFailuresThenReEnable(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	status := http.StatusInternalServerError
	recv := newReceiverFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.WriteHeader(status)
	})
	// The deployment default (6 in 60 s) is overridden for this account.
	h := startDeliverer(t, options{allow: loopbackAllowed, rule: autodisable.Rule{Count: 6, Expiry: time.Minute}})
	hook := h.newHook(t, recv.srv.URL, 0)
	if _, err := h.pool.Exec(t.Context(), `INSERT INTO account_delivery_settings (account_id, attempt_failure_count,
		attempt_failure_expiry_seconds) VALUES ($1, 3, 120)`, hook.AccountID); err != nil {
		t.Fatalf("account settings: %v", err)
	}
	disabledNotices := subscribe(t, h.nc, bus.HooksDisabledSubject(hook.AccountID))
	for range 3 {
		h.publish(t, newDelivery(hook))
		h.waitAcked(t)
	}
	after := h.hook(t, hook.ID)
	if after.Enabled || after.DisableReason != "3 failed attempts within 2m0s" {
		t.Fatalf("hook after 3 failures: enabled %v reason %q", after.Enabled, after.DisableReason)
	}
	testenv.Eventually(t, 5*time.Second, "the hooks.disabled notice", func() (bool, string) { return len(disabledNotices()) == 1, "" })

	// A delivery queued before the hook was disabled is not sent.
	queued := newDelivery(hook)
	queued.CreatedAt = timestampBefore(after.ModifiedAt)
	h.publish(t, queued)
	h.waitAcked(t)
	if n := len(recv.received()); n != 3 {
		t.Fatalf("receiver got %d requests, want 3: a disabled hook's queued delivery was sent", n)
	}
	if rows := h.attemptsOf(t, queued); len(rows) != 1 || !strings.HasPrefix(rows[0].Reason, "not sent: hook disabled") {
		t.Fatalf("queued delivery attempts = %+v", rows)
	}

	// Re-enable as the API does (revision + 1, reason cleared) and announce.
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	if _, err := h.pool.Exec(t.Context(), `UPDATE hooks SET enabled = true, disable_reason = '', revision = revision + 1,
		modified_at = now() WHERE id = $1`, hook.ID); err != nil {
		t.Fatalf("re-enable: %v", err)
	}
	if err := h.nc.Publish(bus.HooksChangedSubject(hook.AccountID), []byte(`{}`)); err != nil {
		t.Fatalf("notice: %v", err)
	}
	d := newDelivery(hook)
	testenv.Eventually(t, 10*time.Second, "a delivery to the re-enabled hook", func() (bool, string) {
		d = newDelivery(hook)
		h.publish(t, d)
		h.waitAcked(t)
		rows := h.attemptsOf(t, d)
		return len(rows) == 1 && rows[0].Result == "success", ""
	})

	// The window restarted with the new revision: two more failures do
	// not disable the hook again.
	mu.Lock()
	status = http.StatusInternalServerError
	mu.Unlock()
	for range 2 {
		h.publish(t, newDelivery(hook))
		h.waitAcked(t)
	}
	if !h.hook(t, hook.ID).Enabled {
		t.Fatal("the re-enabled hook was disabled again by failures from before it was re-enabled")
	}
}
