package render

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

var occurred = time.Date(2020, 5, 1, 12, 0, 9, 0, time.UTC)

func destroyEvent() *pbxhooksv1.Event {
	return &pbxhooksv1.Event{
		Id: "ev-1", AccountId: "acct1", Kind: event.KindCall,
		Lifecycle: event.LifecycleChannelDestroy, CallType: event.CallTypeIncoming, Status: event.StatusEnded,
		CallId: "call-1", OtherLegCallId: "call-2", Direction: event.DirectionInbound,
		From: "+15556783945@matrix.test.com", FromName: "Test Man",
		To: "+15552345678@matrix.test.com", ToName: "Caller Test",
		Request:    "+15552345678@matrix.test.com",
		OccurredAt: timestamppb.New(occurred),
		Hangup: &pbxhooksv1.Hangup{
			Cause: "NORMAL_CLEARING", Code: "sip:200", DurationSeconds: 6, BillingSeconds: 5, RingingSeconds: 1,
		},
	}
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return got
}

func TestRenderKazooDestroy(t *testing.T) {
	t.Parallel()
	hook := &store.Hook{ID: "h1", Uri: "https://example.com/cb", Hook: event.LifecycleChannelDestroy}
	method, url, contentType, body, err := Render(hook, destroyEvent())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if method != "POST" || url != hook.Uri || contentType != ContentTypeJSON {
		t.Fatalf("request line = %s %s (%s), want POST %s (%s)", method, url, contentType, hook.Uri, ContentTypeJSON)
	}
	got := decode(t, body)
	want := map[string]any{
		"account_id":        "acct1",
		"call_direction":    "inbound",
		"call_id":           "call-1",
		"other_leg_call_id": "call-2",
		"caller_id_name":    "Test Man",
		"caller_id_number":  "+15556783945",
		"callee_id_name":    "Caller Test",
		"callee_id_number":  "+15552345678",
		"from":              "+15556783945@matrix.test.com",
		"to":                "+15552345678@matrix.test.com",
		"request":           "+15552345678@matrix.test.com",
		"is_internal_leg":   false,
		"hook_event":        "channel_destroy",
		// 2020-05-01T12:00:09Z in Gregorian seconds, as Kazoo's samples
		// show it: a string.
		"timestamp":        "63755553609",
		"hangup_cause":     "NORMAL_CLEARING",
		"hangup_code":      "sip:200",
		"duration_seconds": float64(6),
		"billing_seconds":  float64(5),
		"ringing_seconds":  float64(1),
	}
	if !maps.EqualFunc(got, want, func(a, b any) bool { return a == b }) {
		t.Fatalf("payload mismatch\n got: %v\nwant: %v", got, want)
	}
}

func TestRenderOmitsUnknownFields(t *testing.T) {
	t.Parallel()
	ev := &pbxhooksv1.Event{Id: "ev-2", AccountId: "acct1", Kind: event.KindCall, Lifecycle: event.LifecycleChannelCreate, CallId: "c"}
	_, _, _, body, err := Render(&store.Hook{ID: "h"}, ev)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	got := slices.Sorted(maps.Keys(decode(t, body)))
	want := []string{"account_id", "call_id", "hook_event", "is_internal_leg"}
	if !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v (unknown fields must be left out, hangup fields only on destroy)", got, want)
	}
}

func TestRenderHangupOnlyOnDestroy(t *testing.T) {
	t.Parallel()
	ev := destroyEvent()
	ev.Lifecycle = event.LifecycleChannelAnswer
	_, _, _, body, err := Render(&store.Hook{ID: "h"}, ev)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if _, ok := decode(t, body)["hangup_cause"]; ok {
		t.Fatal("hangup_cause rendered on a channel_answer")
	}
}

func TestRenderCustomDataOverridesEventFields(t *testing.T) {
	t.Parallel()
	hook := &store.Hook{ID: "h1", CustomData: json.RawMessage(`{"account_id":"WIRECLOUD","screen_pop":true,"big":12345678901234567890}`)}
	_, _, _, body, err := Render(hook, destroyEvent())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	got := decode(t, body)
	if got["account_id"] != "WIRECLOUD" || got["screen_pop"] != true {
		t.Fatalf("custom_data not merged over the event: account_id=%v screen_pop=%v", got["account_id"], got["screen_pop"])
	}
	if got["call_id"] != "call-1" {
		t.Fatalf("event field lost by the merge: call_id=%v", got["call_id"])
	}
	if !strings.Contains(string(body), `"big":12345678901234567890`) {
		t.Fatalf("large custom_data integer not kept exact: %s", body)
	}
}

func TestRenderRejectsNonObjectCustomData(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`[1,2]`, `"text"`, `{`} {
		_, _, _, _, err := Render(&store.Hook{ID: "h", CustomData: json.RawMessage(raw)}, destroyEvent())
		if !errors.Is(err, ErrBadCustomData) {
			t.Errorf("custom_data %s: err = %v, want ErrBadCustomData", raw, err)
		}
	}
	for _, raw := range []string{``, `null`, `{}`} {
		if _, _, _, _, err := Render(&store.Hook{ID: "h", CustomData: json.RawMessage(raw)}, destroyEvent()); err != nil {
			t.Errorf("custom_data %q: unexpected error %v", raw, err)
		}
	}
}

func TestRenderMediaEvent(t *testing.T) {
	t.Parallel()
	ev := &pbxhooksv1.Event{
		Id: "ev-3", AccountId: "acct1", Kind: event.KindMedia, CallId: "c",
		Media: &pbxhooksv1.Media{Type: event.MediaVoicemail, MediaId: "m1", Filename: "vm.mp3", ContentType: "audio/mpeg"},
	}
	_, _, _, body, err := Render(&store.Hook{ID: "h"}, ev)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	got := decode(t, body)
	if got["hook_event"] != "voicemail" || got["filename"] != "vm.mp3" || got["content_type"] != "audio/mpeg" {
		t.Fatalf("media fields missing: %v", got)
	}
}
