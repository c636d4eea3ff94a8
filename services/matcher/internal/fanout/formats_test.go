package fanout_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// TestOneEventThreeFormats: one call event reaches a Kazoo lifecycle hook
// (form POST), a Spoke call hook (JSON POST) and an `all` hook (GET with
// the payload in the query) of one account, each in its own format, while
// another account's hook hears nothing.
func TestOneEventThreeFormats(t *testing.T) {
	t.Parallel()
	acct, other := newID("acct"), newID("other")
	var kazoo, spoke, all store.Hook
	p := startPipeline(t, func(q *store.Queries) {
		kazoo = createHook(t, q, acct, event.LifecycleChannelCreate, func(h *store.InsertHookParams) {
			h.HttpVerb, h.Format = "post", "form-data"
			h.CustomData = json.RawMessage(`{"account_id":"my_crm_account_id","screen_pop":true}`)
		})
		spoke = createHook(t, q, acct, event.HookCall, func(h *store.InsertHookParams) {
			h.HttpVerb, h.Format = "post", "json"
			h.CallTypes, h.CallStatuses = []string{event.CallTypeIncoming}, []string{event.StatusRinging}
		})
		all = createHook(t, q, acct, event.HookAll, func(h *store.InsertHookParams) {
			h.HttpVerb, h.Uri = "get", "https://example.com/all?token=abc"
		})
		createHook(t, q, other, event.HookAll, nil)
	})

	ev := ringingEvent(newID("ev"), acct)
	ev.FromName, ev.ToName, ev.ThreadId = "Clearly IP", "Dade Murphy", "thread-9"
	p.waitEventAcked(t, p.publishEvent(t, ev, ev.Id))

	byHook := map[string]*pbxhooksv1.Delivery{}
	for _, sd := range p.deliveries(t) {
		if sd.d.AccountId != acct {
			t.Fatalf("account %s heard an event of %s: %+v", sd.d.AccountId, acct, sd.d)
		}
		byHook[sd.d.HookId] = sd.d
	}
	if len(byHook) != 3 {
		t.Fatalf("got deliveries for %d hooks, want 3 (kazoo, spoke, all)", len(byHook))
	}

	// Kazoo lifecycle hook: form body, custom_data over the event fields.
	d := byHook[kazoo.ID]
	if d.Method != "POST" || d.Url != kazoo.Uri || d.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("kazoo request = %s %s (%s)", d.Method, d.Url, d.ContentType)
	}
	form, err := url.ParseQuery(string(d.Body))
	if err != nil {
		t.Fatalf("kazoo body is not a form: %v: %s", err, d.Body)
	}
	if form.Get("hook_event") != "channel_create" || form.Get("call_id") != ev.CallId ||
		form.Get("account_id") != "my_crm_account_id" || form.Get("screen_pop") != "true" ||
		// 2024-01-02T03:04:05Z is Unix 1704164645; Kazoo counts from year 0.
		form.Get("timestamp") != "63871383845" {
		t.Errorf("kazoo form = %v", form)
	}

	// Spoke call hook: JSON body in Spoke's shape.
	d = byHook[spoke.ID]
	if d.Method != "POST" || d.Url != spoke.Uri || d.ContentType != "application/json" {
		t.Errorf("spoke request = %s %s (%s)", d.Method, d.Url, d.ContentType)
	}
	var body map[string]any
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatalf("spoke body: %v", err)
	}
	want := map[string]any{
		"id": ev.CallId, "thread_id": "thread-9", "from": "+15550001", "to": "+15550002",
		"from_name": "Clearly IP", "to_name": "Dade Murphy", "type": "incoming_call", "subtype": "ringing",
		"timestamp": "2024-01-02T03:04:05.000000Z",
	}
	if len(body) != len(want) {
		t.Errorf("spoke body has keys %v, want exactly %v", body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("spoke %s = %v, want %v", k, body[k], v)
		}
	}

	// `all` hook with http_verb get: no body, payload in the query.
	d = byHook[all.ID]
	if d.Method != "GET" || d.ContentType != "" || len(d.Body) != 0 {
		t.Errorf("all request = %s (%s) with %d body bytes", d.Method, d.ContentType, len(d.Body))
	}
	u, err := url.Parse(d.Url)
	if err != nil || !strings.HasPrefix(d.Url, "https://example.com/all?token=abc&") {
		t.Fatalf("all url = %q (%v)", d.Url, err)
	}
	if q := u.Query(); q.Get("hook_event") != "channel_create" || q.Get("account_id") != acct || q.Get("token") != "abc" {
		t.Errorf("all query = %v", q)
	}
}

// TestMediaEventCarriesAVerifiableLink: a media hook's delivery carries in
// attachments a link to the API that verifies for exactly this media and
// account. (Downloading it is tested on the API side.)
func TestMediaEventCarriesAVerifiableLink(t *testing.T) {
	t.Parallel()
	acct := newID("acct")
	var media store.Hook
	p := startPipeline(t, func(q *store.Queries) {
		media = createHook(t, q, acct, event.HookMedia, func(h *store.InsertHookParams) {
			h.MediaTypes = []string{event.MediaVoicemail}
		})
		createHook(t, q, acct, event.HookMedia, func(h *store.InsertHookParams) {
			h.MediaTypes = []string{event.MediaCallRecording}
		})
		createHook(t, q, acct, event.HookAll, nil)
	})
	mediaID := newID("vm")
	p.putMedia(t, mediaID, acct)
	ev := &pbxhooksv1.Event{
		Id: newID("ev"), AccountId: acct, Kind: event.KindMedia, Source: "native",
		OccurredAt: timestamppb.New(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
		CallId:     "call-1", CallType: event.CallTypeIncoming, From: "+15550001@pbx", To: "5010@pbx",
		Media: &pbxhooksv1.Media{Type: event.MediaVoicemail, MediaId: mediaID, ObjectName: mediaID, Filename: "vm.mp3", ContentType: "audio/mpeg"},
	}
	issued := time.Now()
	p.waitEventAcked(t, p.publishEvent(t, ev, ev.Id))

	got := p.deliveries(t)
	if len(got) != 1 || got[0].d.HookId != media.ID {
		t.Fatalf("deliveries = %+v, want one for the voicemail hook", got)
	}
	var body map[string]any
	if err := json.Unmarshal(got[0].d.Body, &body); err != nil {
		t.Fatalf("body: %v", err)
	}
	if body["type"] != "voicemail" || body["filename"] != "vm.mp3" || body["content_type"] != "audio/mpeg" {
		t.Errorf("media body = %v", body)
	}
	link, _ := body["attachments"].(string)
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Host != "hooks.example.com" || u.Path != medialink.PathPrefix+mediaID {
		t.Fatalf("attachments = %q (%v)", link, err)
	}
	account, err := medialink.VerifyQuery(linkKeys, mediaID, u.Query(), issued)
	if err != nil || account != acct {
		t.Fatalf("link does not verify: account %q, err %v", account, err)
	}
	if _, err := medialink.VerifyQuery(linkKeys, newID("vm"), u.Query(), issued); err == nil {
		t.Fatal("the link verifies for another media id")
	}
	if _, err := medialink.VerifyQuery(linkKeys, mediaID, u.Query(), issued.Add(25*time.Hour)); err == nil {
		t.Fatal("the link is still valid after 25 hours")
	}
}
