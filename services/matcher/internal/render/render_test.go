package render

import (
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// occurred is 2020-05-01T12:00:09Z: Gregorian seconds 63755553609.
var occurred = time.Date(2020, 5, 1, 12, 0, 9, 0, time.UTC)

// linkIssued is the fixed clock of media links in tests.
var linkIssued = time.Date(2024, 7, 19, 12, 0, 0, 0, time.UTC)

func testRenderer(t testing.TB) *Renderer {
	t.Helper()
	key, err := medialink.NewKey("test", []byte(strings.Repeat("k", medialink.MinSecretBytes)))
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	return &Renderer{Links: &medialink.Linker{
		BaseURL: "https://hooks.example.com", Keys: []medialink.Key{key}, TTL: 24 * time.Hour,
		Now: func() time.Time { return linkIssued },
	}}
}

// callEvent is a fully known call leg at the given lifecycle, like the
// Kazoo samples' call.
func callEvent(lifecycle, status string) *pbxhooksv1.Event {
	ev := &pbxhooksv1.Event{
		Id: "ev-1", AccountId: "acct1", Kind: event.KindCall, Source: "native",
		Lifecycle: lifecycle, CallType: event.CallTypeIncoming, Status: status,
		CallId: "call-1", OtherLegCallId: "call-2", Direction: event.DirectionInbound,
		From: "+15556783945@matrix.test.com", FromName: "Test Man",
		To: "+15552345678@matrix.test.com", ToName: "Caller Test",
		Request:   "+15552345678@matrix.test.com",
		Inception: "+15556783945@matrix.test.com",
		ThreadId:  "thread-1",
		// Kazoo forwards the channel variables the PBX set.
		CustomChannelVars: map[string]string{"queue": "sales"},
		OccurredAt:        timestamppb.New(occurred),
	}
	if lifecycle == event.LifecycleChannelDestroy {
		ev.Hangup = &pbxhooksv1.Hangup{Cause: "NORMAL_CLEARING", Code: "sip:200", DurationSeconds: 6, BillingSeconds: 5, RingingSeconds: 1, Answered: true}
	}
	return ev
}

func mediaEvent(mediaType string) *pbxhooksv1.Event {
	return &pbxhooksv1.Event{
		Id: "ev-m1", AccountId: "acct1", Kind: event.KindMedia, Source: "native",
		CallId: "call-1", ThreadId: "thread-1", CallType: event.CallTypeIncoming,
		From: "+19203833100@pbx.example.com", FromName: "Clearly IP", To: "5010@pbx.example.com", ToName: "Dade Murphy",
		OccurredAt: timestamppb.New(time.Date(2023, 11, 14, 21, 45, 22, 0, time.UTC)),
		Media: &pbxhooksv1.Media{
			Type: mediaType, MediaId: "ad1c5ba3-9f9b-454d-b4b1-cfb592bb8fd9", ObjectName: "ad1c5ba3-9f9b-454d-b4b1-cfb592bb8fd9",
			Filename: "vm_5010.mp3", ContentType: "audio/mpeg", SizeBytes: 1234,
		},
	}
}

func hook(hookType, verb, format, uri string) *store.Hook {
	return &store.Hook{ID: "hk1", AccountID: "acct1", Hook: hookType, HttpVerb: verb, Format: format, Uri: uri}
}

func decodeJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return got
}

func TestKazooDestroyFields(t *testing.T) {
	t.Parallel()
	req, err := testRenderer(t).Render(hook(event.LifecycleChannelDestroy, "post", "json", "https://example.com/cb"), callEvent(event.LifecycleChannelDestroy, event.StatusEnded))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if req.Method != "POST" || req.URL != "https://example.com/cb" || req.ContentType != ContentTypeJSON {
		t.Fatalf("request = %s %s (%s)", req.Method, req.URL, req.ContentType)
	}
	got := decodeJSON(t, req.Body)
	want := map[string]any{
		"account_id":          "acct1",
		"call_direction":      "inbound",
		"call_id":             "call-1",
		"other_leg_call_id":   "call-2",
		"caller_id_name":      "Test Man",
		"caller_id_number":    "+15556783945",
		"callee_id_name":      "Caller Test",
		"callee_id_number":    "+15552345678",
		"from":                "+15556783945@matrix.test.com",
		"to":                  "+15552345678@matrix.test.com",
		"request":             "+15552345678@matrix.test.com",
		"inception":           "+15556783945@matrix.test.com",
		"is_internal_leg":     false,
		"custom_channel_vars": map[string]any{"queue": "sales"},
		"hook_event":          "channel_destroy",
		"timestamp":           "63755553609",
		"hangup_cause":        "NORMAL_CLEARING",
		"hangup_code":         "sip:200",
		"duration_seconds":    float64(6),
		"billing_seconds":     float64(5),
		"ringing_seconds":     float64(1),
	}
	if !equalJSON(got, want) {
		t.Fatalf("payload mismatch\n got: %v\nwant: %v", got, want)
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestKazooOmitsUnknownFields(t *testing.T) {
	t.Parallel()
	ev := &pbxhooksv1.Event{Id: "ev-2", AccountId: "acct1", Kind: event.KindCall, Lifecycle: event.LifecycleChannelCreate, CallId: "c"}
	req, err := (&Renderer{}).Render(hook(event.HookAll, "post", "json", "https://example.com/"), ev)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	got := slices.Sorted(maps.Keys(decodeJSON(t, req.Body)))
	want := []string{"account_id", "call_id", "custom_channel_vars", "hook_event", "is_internal_leg"}
	if !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v (unknown fields left out, hangup fields only on destroy)", got, want)
	}
	if strings.Contains(string(req.Body), "null") {
		t.Fatalf("an unknown field was sent as null: %s", req.Body)
	}
}

func TestKazooHangupOnlyOnDestroy(t *testing.T) {
	t.Parallel()
	ev := callEvent(event.LifecycleChannelDestroy, event.StatusEnded)
	ev.Lifecycle = event.LifecycleChannelAnswer
	req, err := (&Renderer{}).Render(hook(event.HookAll, "post", "json", "https://example.com/"), ev)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if _, ok := decodeJSON(t, req.Body)["hangup_cause"]; ok {
		t.Fatal("hangup_cause rendered on a channel_answer")
	}
}

// TestCustomDataOverridesEventFields is the WIRECLOUD documentation's
// example: account_id replaced, screen_pop added.
func TestCustomDataOverridesEventFields(t *testing.T) {
	t.Parallel()
	h := hook(event.LifecycleChannelCreate, "post", "json", "https://example.com/")
	h.CustomData = json.RawMessage(`{"account_id":"my_crm_account_id","screen_pop":true,"big":12345678901234567890}`)
	for _, hookType := range []string{event.LifecycleChannelCreate, event.HookCall} {
		h.Hook = hookType
		req, err := (&Renderer{}).Render(h, callEvent(event.LifecycleChannelCreate, event.StatusRinging))
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		got := decodeJSON(t, req.Body)
		if got["account_id"] != "my_crm_account_id" || got["screen_pop"] != true {
			t.Fatalf("%s: custom_data not merged over the event: %s", hookType, req.Body)
		}
		if !strings.Contains(string(req.Body), `"big":12345678901234567890`) {
			t.Fatalf("%s: large custom_data integer not kept exact: %s", hookType, req.Body)
		}
	}
}

func TestRenderRejects(t *testing.T) {
	t.Parallel()
	ev := callEvent(event.LifecycleChannelCreate, event.StatusRinging)
	for _, raw := range []string{`[1,2]`, `"text"`, `{`} {
		h := hook(event.HookAll, "post", "json", "https://example.com/")
		h.CustomData = json.RawMessage(raw)
		if _, err := (&Renderer{}).Render(h, ev); !errors.Is(err, ErrBadCustomData) {
			t.Errorf("custom_data %s: err = %v, want ErrBadCustomData", raw, err)
		}
	}
	for _, raw := range []string{``, `null`, `{}`} {
		h := hook(event.HookAll, "post", "json", "https://example.com/")
		h.CustomData = json.RawMessage(raw)
		if _, err := (&Renderer{}).Render(h, ev); err != nil {
			t.Errorf("custom_data %q: unexpected error %v", raw, err)
		}
	}
	for _, h := range []*store.Hook{
		hook("object", "post", "json", "https://example.com/"),
		hook(event.HookAll, "delete", "json", "https://example.com/"),
		hook(event.HookAll, "post", "xml", "https://example.com/"),
		hook(event.HookAll, "get", "json", "http://[::1"),
	} {
		if _, err := (&Renderer{}).Render(h, ev); !errors.Is(err, ErrUnsupportedHook) {
			t.Errorf("hook %s %s %s: err = %v, want ErrUnsupportedHook", h.Hook, h.HttpVerb, h.Format, err)
		}
	}
	if _, err := (&Renderer{}).Render(hook(event.HookMedia, "post", "json", "https://example.com/"), mediaEvent(event.MediaVoicemail)); !errors.Is(err, ErrNoMediaLinks) {
		t.Errorf("media without a linker: err = %v, want ErrNoMediaLinks", err)
	}
}

// TestKazooDefaults: an empty verb and format are Kazoo's defaults, a
// form-data POST.
func TestKazooDefaults(t *testing.T) {
	t.Parallel()
	req, err := (&Renderer{}).Render(hook(event.HookAll, "", "", "https://example.com/"), callEvent(event.LifecycleChannelCreate, event.StatusRinging))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if req.Method != "POST" || req.ContentType != ContentTypeForm {
		t.Fatalf("defaults = %s (%s), want POST form", req.Method, req.ContentType)
	}
}

func TestFormEncodeNesting(t *testing.T) {
	t.Parallel()
	var custom map[string]any
	if err := json.Unmarshal([]byte(`{"z":"last & least","crm":{"id":7,"tags":["a","b c"],"deep":{"x":null}},"empty":{},"none":[]}`), &custom); err != nil {
		t.Fatal(err)
	}
	got := formEncode(custom)
	want := "crm[deep][x]=&crm[id]=7&crm[tags][]=a&crm[tags][]=b+c&z=last+%26+least"
	if got != want {
		t.Fatalf("formEncode =\n %s\nwant\n %s", got, want)
	}
	parsed, err := url.ParseQuery(got)
	if err != nil || parsed.Get("z") != "last & least" || len(parsed["crm[tags][]"]) != 2 {
		t.Fatalf("encoded form does not parse back: %v %v", parsed, err)
	}
}

func TestGetKeepsTheURIsQuery(t *testing.T) {
	t.Parallel()
	req, err := (&Renderer{}).Render(hook(event.HookAll, "get", "", "https://example.com/cb?token=abc&x=1"), callEvent(event.LifecycleChannelCreate, event.StatusRinging))
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatalf("URL %q: %v", req.URL, err)
	}
	q := u.Query()
	if req.Method != "GET" || req.Body != nil || req.ContentType != "" {
		t.Fatalf("GET request carries a body: %+v", req)
	}
	if q.Get("token") != "abc" || q.Get("x") != "1" || q.Get("call_id") != "call-1" || q.Get("custom_channel_vars[queue]") != "sales" {
		t.Fatalf("query = %v", q)
	}
	if !strings.HasPrefix(req.URL, "https://example.com/cb?token=abc&x=1&") {
		t.Fatalf("the uri's own query was reordered: %s", req.URL)
	}
}

func TestSpokeMediaLinkVerifies(t *testing.T) {
	t.Parallel()
	r := testRenderer(t)
	ev := mediaEvent(event.MediaCallRecording)
	req, err := r.Render(hook(event.HookMedia, "post", "json", "https://example.com/"), ev)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	link, _ := decodeJSON(t, req.Body)["attachments"].(string)
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, "https://hooks.example.com/v1/media/") {
		t.Fatalf("attachments = %q (%v)", link, err)
	}
	mediaID := strings.TrimPrefix(u.Path, medialink.PathPrefix)
	if mediaID != ev.Media.MediaId {
		t.Fatalf("link names media %q, want %q", mediaID, ev.Media.MediaId)
	}
	account, err := medialink.VerifyQuery(r.Links.Keys, mediaID, u.Query(), linkIssued.Add(23*time.Hour))
	if err != nil || account != "acct1" {
		t.Fatalf("link does not verify: account %q err %v", account, err)
	}
	if _, err := medialink.VerifyQuery(r.Links.Keys, mediaID, u.Query(), linkIssued.Add(25*time.Hour)); !errors.Is(err, medialink.ErrExpired) {
		t.Fatalf("link still valid after 25h: %v", err)
	}
}
