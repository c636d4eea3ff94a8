package console_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

func TestLiveTailPageShowsTheLatestWithoutScript(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	hookID := createCallHook(t, b, "https://crm.example.com/missed")
	missedCallWithVoicemail(t, r, hookID)

	p := b.get("/console/a/acme/live").expect(t, http.StatusOK,
		`data-stream="/console/a/acme/live/stream"`, "reload it to see newer ones",
		`<span class="result status-missed">missed</span> call`, `href="/console/a/acme/timeline?call=call-7"`,
		`<span class="result failure">failure</span> attempt 1`, `<span class="result success">success</span> attempt 2`)
	if strings.Contains(p.body, "No events yet") {
		t.Fatalf("the snapshot lists no events:\n%s", p.body)
	}
	// A number filter narrows the events and shows no unrelated deliveries.
	p = b.get("/console/a/acme/live?number=%2B15550199").expect(t, http.StatusOK,
		`data-stream="/console/a/acme/live/stream?number=%2B15550199"`, `timeline?call=call-8`, "No deliveries yet")
	if strings.Contains(p.body, "call=call-7") {
		t.Fatalf("call-7 is shown under a number it does not have:\n%s", p.body)
	}
	// A result filter shows no events (the stream's rule) and only those attempts.
	p = b.get("/console/a/acme/live?status=failure").expect(t, http.StatusOK, "No events yet", "attempt 1")
	if strings.Contains(p.body, "attempt 2") {
		t.Fatalf("a successful attempt under the failure filter:\n%s", p.body)
	}
	b.get("/console/a/acme/live?status=bogus").expect(t, http.StatusBadRequest, "status")
}

// sseReader reads one Server-Sent Events stream frame by frame.
type sseReader struct {
	t     *testing.T
	lines *bufio.Scanner
}

// next returns the next frame's event name and data, skipping comments.
func (s *sseReader) next() (name, data string) {
	s.t.Helper()
	for s.lines.Scan() {
		line := s.lines.Text()
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	s.t.Fatalf("the stream ended: %v", s.lines.Err())
	return "", ""
}

func TestLiveStreamRelaysTheAPIsStreamForTheSession(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	hookID := createCallHook(t, b, "https://crm.example.com/missed")

	// Without a session the stream is not opened.
	r.browser(t).get("/console/a/acme/live/stream").redirectsTo(t, "/console/sign-in")

	resp, err := b.http.Get(r.url + "/console/a/acme/live/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream answered %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stream := &sseReader{t: t, lines: bufio.NewScanner(resp.Body)}
	// The API subscribes before it answers, so what is published now reaches the stream.
	now := time.Now().UTC()
	for _, status := range []string{event.StatusRinging, event.StatusMissed} {
		ev := &pbxhooksv1.Event{Id: "live-" + status, AccountId: "acme", Kind: event.KindCall, Source: "native",
			OccurredAt: timestamppb.New(now), ReceivedAt: timestamppb.New(now), Lifecycle: event.LifecycleChannelDestroy,
			CallType: event.CallTypeIncoming, Status: status, CallId: "call-live", ThreadId: "thread-live",
			Direction: event.DirectionInbound, From: "+15550100", To: "5010"}
		subject, err := bus.EventSubject(ev)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := bus.EventMsg(t.Context(), subject, ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	notice, err := json.Marshal(bus.AttemptNotice{AccountID: "acme", HookID: hookID, EventID: "live-missed",
		DeliveryID: bus.DeliveryID("live-missed", hookID), Attempt: 1, Result: "success", Status: 200, At: now})
	if err != nil {
		t.Fatal(err)
	}
	subject, err := bus.AttemptNoticeSubject("acme", hookID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.nc.Publish(subject, notice); err != nil {
		t.Fatal(err)
	}

	// Events and attempts come through separate subscriptions, so their
	// frames may interleave either way: each is expected once.
	want := map[string]string{
		`"event_id":"live-ringing"`: "event", `"event_id":"live-missed"`: "event",
		`"delivery_id":"` + bus.DeliveryID("live-missed", hookID) + `"`: "attempt",
	}
	for len(want) > 0 {
		name, data := stream.next()
		matched := false
		for needle, kind := range want {
			if name == kind && strings.Contains(data, needle) {
				delete(want, needle)
				matched = true
			}
		}
		if !matched {
			t.Fatalf("unexpected frame %s %s; still waiting for %v", name, data, want)
		}
	}
}

func TestLiveStreamOfAnotherAccountIsRefused(t *testing.T) {
	r := newRig(t)
	admin := r.browser(t)
	admin.signIn(adminToken).redirectsTo(t, "/console")
	createCallHook(t, admin, "https://crm.example.com/missed")
	token := r.accountToken(t, admin, "other", "api")

	user := r.browser(t)
	user.signIn(token).redirectsTo(t, "/console/a/other/webhooks")
	user.get("/console/a/acme/live/stream").expect(t, http.StatusForbidden)
	user.get("/console/a/acme/live").expect(t, http.StatusForbidden, "You may not open this")
}
