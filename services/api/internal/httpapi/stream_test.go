package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// sseFrame is one block of a text/event-stream: an event with data, or a
// comment.
type sseFrame struct {
	event, id, comment string
	data               map[string]any
}

// liveStream is an open GET .../stream.
type liveStream struct {
	frames chan sseFrame
	// ended is closed when the server ends the stream.
	ended  chan struct{}
	cancel context.CancelFunc
}

// openStream opens the stream and waits for its opening comment, so what
// is published afterwards reaches it.
func openStream(t *testing.T, h *eventsHarness, path, token string) *liveStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &liveStream{frames: make(chan sseFrame, 64), ended: make(chan struct{}), cancel: cancel}
	t.Cleanup(cancel)
	go func() {
		defer close(s.ended)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				s.frames <- f
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
				f.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "event: "):
				f.event = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				f.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[len("data: "):]), &f.data); err != nil {
					t.Errorf("data is not JSON: %s", line)
				}
			}
		}
	}()
	if first := s.next(t); first.comment != "stream open" {
		t.Fatalf("first frame %+v", first)
	}
	return s
}

// next returns the next frame that is not a heartbeat.
func (s *liveStream) next(t *testing.T) sseFrame {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case f := <-s.frames:
			if f.comment == "heartbeat" {
				continue
			}
			return f
		case <-s.ended:
			t.Fatal("the stream ended")
		case <-timeout:
			t.Fatal("no frame within 30 s")
		}
	}
}

func (h *eventsHarness) notice(t *testing.T, n bus.AttemptNotice) {
	t.Helper()
	subject, err := bus.AttemptNoticeSubject(n.AccountID, n.HookID)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.nc.Publish(subject, body); err != nil {
		t.Fatal(err)
	}
}

func TestStreamDeliversTheAccountsEventsAndAttemptsOnly(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t)
	s := openStream(t, h, "/v1/accounts/acme/stream", acmeToken)
	now := time.Now()
	// Another account's traffic first: were it to leak, it would arrive
	// before acme's.
	h.publish(t, sampleCall("globex", "g1", "c1", event.StatusMissed, "+15550100", "5010", now))
	h.notice(t, bus.AttemptNotice{AccountID: "globex", HookID: "hookg", EventID: "g1", Result: "success"})
	h.publish(t, sampleCall("acme", "a1", "c1", event.StatusMissed, "+15550100", "5010", now))
	h.notice(t, bus.AttemptNotice{AccountID: "acme", HookID: "hooka", EventID: "a1", DeliveryID: "a1:hooka", Attempt: 1, Result: "failure", Status: 503})

	// Events and attempts come from two subscriptions, so the stream does
	// not order one kind against the other: take the next two frames in
	// whichever order they come, and each must be acme's.
	ev, at := s.next(t), s.next(t)
	if ev.event == "attempt" {
		ev, at = at, ev
	}
	if ev.event != "event" || ev.id != "a1" || ev.data["event_id"] != "a1" || ev.data["status"] != "missed" || ev.data["call_id"] != "c1" {
		t.Fatalf("event frame %+v, want acme's event", ev)
	}
	if at.event != "attempt" || at.data["delivery_id"] != "a1:hooka" || at.data["result"] != "failure" || at.data["response_status"] != float64(503) {
		t.Fatalf("attempt frame %+v, want acme's attempt", at)
	}
}

func TestStreamFilters(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t)
	now := time.Now()

	t.Run("number", func(t *testing.T) {
		s := openStream(t, h, "/v1/accounts/acme/stream?number=%2B15550111", acmeToken)
		h.publish(t, sampleCall("acme", "n1", "c1", event.StatusMissed, "+15550100", "5010", now))
		h.notice(t, bus.AttemptNotice{AccountID: "acme", HookID: "hooka", EventID: "n1", Result: "success"})
		h.publish(t, sampleCall("acme", "n2", "c2", event.StatusAnswered, "5010", "+15550111", now))
		h.notice(t, bus.AttemptNotice{AccountID: "acme", HookID: "hooka", EventID: "n2", Result: "success"})
		if f := s.next(t); f.event != "event" || f.id != "n2" {
			t.Fatalf("frame %+v, want event n2 (to the number)", f)
		}
		if f := s.next(t); f.event != "attempt" || f.data["event_id"] != "n2" {
			t.Fatalf("frame %+v, want n2's attempt only", f)
		}
	})
	t.Run("attempt result", func(t *testing.T) {
		s := openStream(t, h, "/v1/accounts/acme/stream?status=failure", acmeToken)
		h.publish(t, sampleCall("acme", "r1", "c1", event.StatusMissed, "+15550100", "5010", now))
		h.notice(t, bus.AttemptNotice{AccountID: "acme", HookID: "hooka", EventID: "r1", Result: "success"})
		h.notice(t, bus.AttemptNotice{AccountID: "acme", HookID: "hooka", EventID: "r1", Result: "failure", Attempt: 2})
		if f := s.next(t); f.event != "attempt" || f.data["result"] != "failure" || f.data["attempt"] != float64(2) {
			t.Fatalf("frame %+v, want the failed attempt only", f)
		}
	})
	t.Run("hook", func(t *testing.T) {
		hook := h.createHook(t, "acme", `{"data":{"name":"m","uri":"https://e.com","hook":"call","call_statuses":["missed"]}}`)
		id := hook["id"].(string)
		s := openStream(t, h, "/v1/accounts/acme/stream?hook_id="+id, acmeToken)
		h.publish(t, sampleCall("acme", "h1", "c1", event.StatusRinging, "+15550100", "5010", now))
		h.notice(t, bus.AttemptNotice{AccountID: "acme", HookID: "someotherhook", EventID: "h1", Result: "success"})
		h.publish(t, sampleCall("acme", "h2", "c1", event.StatusMissed, "+15550100", "5010", now))
		h.notice(t, bus.AttemptNotice{AccountID: "acme", HookID: id, EventID: "h2", Result: "success"})
		if f := s.next(t); f.event != "event" || f.id != "h2" {
			t.Fatalf("frame %+v, want the missed call the hook selects", f)
		}
		if f := s.next(t); f.event != "attempt" || f.data["hook_id"] != id {
			t.Fatalf("frame %+v, want the hook's attempt", f)
		}
	})
}

func TestStreamRefusesBadInputAndOtherAccounts(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t)
	h.do(t, http.MethodGet, "/v1/accounts/globex/stream", acmeToken, "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acme/stream?status=lost", acmeToken, "").expectError(t, http.StatusBadRequest, "status", "enum")
	h.do(t, http.MethodGet, "/v1/accounts/acme/stream?hook_id=no.such", acmeToken, "").expectError(t, http.StatusBadRequest, "hook_id", "format")
	h.do(t, http.MethodGet, "/v1/accounts/acme/stream?hook_id=0123456789abcdef0123456789abcdef", acmeToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acme/stream?number="+strings.Repeat("1", 513), acmeToken, "").expectError(t, http.StatusBadRequest, "number", "max_length")
}

// TestStreamEndsCleanly: a client that leaves takes its subscriptions with
// it; a server shutting down tells the client and ends the stream.
func TestStreamEndsCleanly(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t, func(d *httpapi.Deps) { d.StreamHeartbeat = 20 * time.Millisecond })
	before := h.nc.NumSubscriptions()

	gone := openStream(t, h, "/v1/accounts/acme/stream", acmeToken)
	if got := h.nc.NumSubscriptions(); got != before+2 {
		t.Fatalf("%d subscriptions with a stream open, want %d", got, before+2)
	}
	// Heartbeats keep an idle stream alive.
	select {
	case f := <-gone.frames:
		if f.comment != "heartbeat" {
			t.Fatalf("idle stream sent %+v", f)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no heartbeat")
	}
	gone.cancel()
	testenv.Eventually(t, 30*time.Second, "the departed client's subscriptions removed", func() bool {
		return h.nc.NumSubscriptions() == before
	})

	open := openStream(t, h, "/v1/accounts/acme/stream", acmeToken)
	h.srv.CloseStreams()
	if f := open.next(t); f.event != "close" {
		t.Fatalf("frame %+v, want close", f)
	}
	select {
	case <-open.ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream stayed open after close")
	}
	testenv.Eventually(t, 30*time.Second, "the closed stream's subscriptions removed", func() bool {
		return h.nc.NumSubscriptions() == before
	})
}
