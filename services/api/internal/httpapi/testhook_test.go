package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

func TestTestHookPublishesASampleEvent(t *testing.T) {
	t.Parallel()
	// Nothing delivers in this test, so every answer is the 202.
	h := newHarness(t, func(d *httpapi.Deps) { d.TestWait = 300 * time.Millisecond })
	stream, err := h.js.Stream(t.Context(), bus.StreamEvents)
	if err != nil {
		t.Fatalf("EVENTS stream: %v", err)
	}
	cases := []struct {
		name, body, subject, lifecycle, kind, status, callType, mediaType string
	}{
		{"kazoo lifecycle", `{"data":{"name":"a","uri":"http://e.com","hook":"channel_answer"}}`,
			"events.acct1.call.incoming_call.answered", "channel_answer", "call", "answered", "incoming_call", ""},
		{"kazoo destroy", `{"data":{"name":"a","uri":"http://e.com","hook":"channel_destroy"}}`,
			"events.acct1.call.incoming_call.ended", "channel_destroy", "call", "ended", "incoming_call", ""},
		{"all", `{"data":{"name":"a","uri":"http://e.com","hook":"all","enabled":false}}`,
			"events.acct1.call.incoming_call.ringing", "channel_create", "call", "ringing", "incoming_call", ""},
		{"spoke call with filters", `{"data":{"name":"a","uri":"http://e.com","hook":"call","call_types":["outgoing_call"],"call_statuses":["no_answer","missed"]}}`,
			"events.acct1.call.outgoing_call.missed", "channel_destroy", "call", "missed", "outgoing_call", ""},
		{"spoke call without filters", `{"data":{"name":"a","uri":"http://e.com","hook":"call"}}`,
			"events.acct1.call.incoming_call.ringing", "channel_create", "call", "ringing", "incoming_call", ""},
		{"spoke media", `{"data":{"name":"a","uri":"http://e.com","hook":"media","media_types":["call_recording"]}}`,
			"events.acct1.media.call_recording", "", "media", "", "", "call_recording"},
	}
	for _, tc := range cases {
		hookID := h.createHook(t, "acct1", tc.body)["id"].(string)
		r := h.do(t, http.MethodPost, "/v1/accounts/acct1/webhooks/"+hookID+"/test", adminToken, "").expect(t, http.StatusAccepted)
		queued := r.data(t)
		eventID, _ := queued["event_id"].(string)
		if !strings.HasPrefix(eventID, "test-") || queued["delivery_id"] != eventID+":"+hookID || queued["message"] == "" {
			t.Fatalf("%s: 202 body %s", tc.name, r.raw)
		}

		msg, err := stream.GetLastMsgForSubject(t.Context(), tc.subject)
		if err != nil {
			t.Fatalf("%s: no EVENTS message on %s: %v", tc.name, tc.subject, err)
		}
		if got := msg.Header.Get(bus.HeaderTestHookID); got != hookID {
			t.Errorf("%s: %s = %q, want %s", tc.name, bus.HeaderTestHookID, got, hookID)
		}
		if got := msg.Header.Get(bus.HeaderMsgID); got != "acct1/"+eventID {
			t.Errorf("%s: Nats-Msg-Id %q", tc.name, got)
		}
		var ev pbxhooksv1.Event
		if err := proto.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatalf("%s: decode event: %v", tc.name, err)
		}
		if ev.GetId() != eventID || ev.GetAccountId() != "acct1" || ev.GetKind() != tc.kind || ev.GetSource() != httpapi.TestEventSource ||
			ev.GetLifecycle() != tc.lifecycle && tc.kind == "call" || ev.GetStatus() != tc.status && tc.kind == "call" ||
			ev.GetCallType() != tc.callType && tc.kind == "call" || ev.GetMedia().GetType() != tc.mediaType || ev.GetOccurredAt() == nil {
			t.Errorf("%s: event %v", tc.name, &ev)
		}
	}
	h.do(t, http.MethodPost, "/v1/accounts/acct1/webhooks/0123456789abcdef0123456789abcdef/test", adminToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodPost, "/v1/accounts/nobody/webhooks/0123456789abcdef0123456789abcdef/test", adminToken, "").expectError(t, http.StatusNotFound, "", "")
}

// TestTestHookReturnsTheAttempt stands in for matcher and deliverer: it
// hears the test event on EVENTS and records an attempt for it, which the
// API must find and return.
func TestTestHookReturnsTheAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	hookID := h.createHook(t, "acct1", `{"data":{"name":"a","uri":"http://e.com/cb","hook":"channel_create"}}`)["id"].(string)
	recorded := recordTestAttempts(t, h, "acct1")

	r := h.do(t, http.MethodPost, "/v1/accounts/acct1/webhooks/"+hookID+"/test", adminToken, "").expect(t, http.StatusOK)
	if err := <-recorded; err != nil {
		t.Fatalf("record attempt: %v", err)
	}
	attempt := r.data(t)
	if attempt["hook_id"] != hookID || attempt["result"] != "success" || !strings.HasSuffix(attempt["delivery_id"].(string), ":"+hookID) ||
		!strings.HasPrefix(attempt["event_id"].(string), "test-") {
		t.Fatalf("attempt: %s", r.raw)
	}
	if resp, _ := attempt["response"].(map[string]any); resp["status"] != 204.0 {
		t.Fatalf("attempt response: %s", r.raw)
	}
}
