package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const (
	acmeToken   = "acme-token-for-tests-0123456789ab"
	globexToken = "globex-token-for-tests-0123456789"
)

// eventsHarness is the API with the events index consumer running, an
// account token for acme and for globex, and media links signed with a
// test key.
type eventsHarness struct {
	*harness
	linkKeys []medialink.Key
}

func newEventsHarness(t *testing.T, options ...func(*httpapi.Deps)) *eventsHarness {
	t.Helper()
	keys, err := medialink.ParseKeys("k1:" + strings.Repeat("s", medialink.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	options = append(options, func(d *httpapi.Deps) {
		d.Media = httpapi.MediaDeps{LinkKeys: keys, Links: &medialink.Linker{BaseURL: "https://api.example", Keys: keys, TTL: time.Hour}}
	})
	h := newHarness(t, options...)
	if err := bus.EnsureStreams(t.Context(), h.js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	if err := store.EnsurePartitions(t.Context(), store.New(h.pool), store.EventsIndexTable); err != nil {
		t.Fatal(err)
	}
	h.accountToken(t, "acme", acmeToken)
	h.accountToken(t, "globex", globexToken)
	ix := eventindex.New(h.pool, h.js, slog.New(slog.DiscardHandler), eventindex.Config{Linger: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := ix.Run(ctx); err != nil {
			t.Errorf("indexer: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	testenv.Eventually(t, 30*time.Second, "the events index consuming", func() bool { return ix.Ready(t.Context()) == nil })
	return &eventsHarness{harness: h, linkKeys: keys}
}

// sampleCall is an event of acme's call with the given status.
func sampleCall(account, id, callID, status, from, to string, at time.Time) *pbxhooksv1.Event {
	lifecycle := event.LifecycleChannelDestroy
	if status == event.StatusRinging {
		lifecycle = event.LifecycleChannelCreate
	}
	return &pbxhooksv1.Event{
		Id: id, AccountId: account, Kind: event.KindCall, Source: "native",
		OccurredAt: timestamppb.New(at), ReceivedAt: timestamppb.New(at),
		Lifecycle: lifecycle, CallType: event.CallTypeIncoming, Status: status,
		CallId: callID, ThreadId: "thread-" + callID, Direction: event.DirectionInbound, From: from, To: to,
	}
}

func sampleVoicemail(account, id, callID string, at time.Time) *pbxhooksv1.Event {
	ev := sampleCall(account, id, callID, event.StatusEnded, "+15550100", "5010", at)
	ev.Kind = event.KindMedia
	ev.Media = &pbxhooksv1.Media{Type: event.MediaVoicemail, MediaId: "media-" + id, Filename: "vm.wav", ContentType: "audio/wav"}
	return ev
}

// publish stores events on EVENTS as ingest does.
func (h *eventsHarness) publish(t *testing.T, evs ...*pbxhooksv1.Event) {
	t.Helper()
	for _, ev := range evs {
		subject, err := bus.EventSubject(ev)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := bus.EventMsg(t.Context(), subject, ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bus.PublishEvent(t.Context(), h.js, msg); err != nil {
			t.Fatal(err)
		}
	}
}

// waitIndexed waits until the account's search shows n events.
func (h *eventsHarness) waitIndexed(t *testing.T, account string, n int) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d events of %s indexed", n, account), func() (bool, string) {
		var got int
		if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM events_index WHERE account_id = $1`, account).Scan(&got); err != nil {
			return false, err.Error()
		}
		return got == n, fmt.Sprintf("%d indexed", got)
	})
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func itemEventIDs(t *testing.T, items []any) []string {
	t.Helper()
	var ids []string
	for _, item := range items {
		ids = append(ids, item.(map[string]any)["event_id"].(string))
	}
	return ids
}

func TestSearchEventsFiltersAndPages(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t)
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	h.publish(t,
		sampleCall("acme", "a1", "c1", event.StatusRinging, "+15550100", "5010", base),
		sampleCall("acme", "a2", "c1", event.StatusMissed, "+15550100", "5010", base.Add(time.Minute)),
		sampleCall("acme", "a3", "c2", event.StatusRinging, "+15550111", "+15550100", base.Add(2*time.Minute)),
		sampleCall("acme", "a4", "c2", event.StatusAnswered, "+15550111", "+15550100", base.Add(3*time.Minute)),
		sampleVoicemail("acme", "a5", "c1", base.Add(4*time.Minute)),
		sampleCall("globex", "g1", "c1", event.StatusMissed, "+15550100", "5010", base),
	)
	h.waitIndexed(t, "acme", 5)
	h.waitIndexed(t, "globex", 1)

	search := func(query string) []string {
		t.Helper()
		r := h.do(t, http.MethodGet, "/v1/accounts/acme/events?"+query, acmeToken, "").expect(t, http.StatusOK)
		ids := itemEventIDs(t, r.list(t))
		return ids
	}
	// Within one batch the index order is the order the consumer's
	// workers took the messages in: compare sets.
	same := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(sorted(got), ",") != strings.Join(sorted(want), ",") {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	// The index holds them in publish order; newest indexed first.
	all := search("")
	if len(all) != 5 {
		t.Fatalf("all of acme: %v (another account's event must not show)", all)
	}
	byCall := search("call_id=c1")
	if len(byCall) != 3 {
		t.Fatalf("call c1: %v", byCall)
	}
	same(search("thread_id=thread-c2"), "a4", "a3")
	// number matches from or to.
	if got := search("number=%2B15550100"); len(got) != 5 {
		t.Fatalf("number +15550100 (from of c1, to of c2): %v", got)
	}
	same(search("number=%2B15550111"), "a4", "a3")
	same(search("status=missed"), "a2")
	same(search("kind=media"), "a5")
	same(search("since=2026-11-30T09:01:00Z&until=2026-11-30T09:03:00Z&kind=call"), "a3", "a2")

	// Paging: limit 2, then the next pages by next_start_key.
	var paged []string
	query := "limit=2"
	for range 4 {
		r := h.do(t, http.MethodGet, "/v1/accounts/acme/events?"+query, acmeToken, "").expect(t, http.StatusOK)
		page := itemEventIDs(t, r.list(t))
		if len(page) > 2 {
			t.Fatalf("page of %d with limit 2", len(page))
		}
		paged = append(paged, page...)
		next, _ := r.body["next_start_key"].(string)
		if next == "" {
			break
		}
		query = "limit=2&start_key=" + next
	}
	if strings.Join(paged, ",") != strings.Join(all, ",") {
		t.Fatalf("pages %v, want %v in the same order", paged, all)
	}

	// The item shape.
	first := h.do(t, http.MethodGet, "/v1/accounts/acme/events?status=missed", acmeToken, "").expect(t, http.StatusOK).list(t)[0].(map[string]any)
	if first["call_id"] != "c1" || first["from"] != "+15550100" || first["to"] != "5010" || first["kind"] != "call" ||
		first["occurred_at"] != "2026-11-30T09:01:00Z" || first["payload"] != nil {
		t.Fatalf("event = %v", first)
	}
}

func TestSearchEventsRefusesBadInputAndOtherAccounts(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t)
	h.do(t, http.MethodGet, "/v1/accounts/globex/events", acmeToken, "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acme/events", "", "").expectError(t, http.StatusUnauthorized, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/nobody/events", adminToken, "").expectError(t, http.StatusNotFound, "", "")
	for _, tc := range []struct{ query, field, rule string }{
		{"status=lost", "status", "enum"},
		{"kind=fax", "kind", "enum"},
		{"since=yesterday", "since", "format"},
		{"since=2026-11-30T10:00:00Z&until=2026-11-30T09:00:00Z", "until", "minimum"},
		{"limit=0", "page_size", "minimum"},
		{"limit=501", "page_size", "maximum"},
		{"limit=2&page_size=3", "limit", "format"},
		{"start_key=abc", "start_key", "format"},
		{"call_id=" + strings.Repeat("x", 513), "call_id", "max_length"},
		{"number=%00", "number", "format"},
	} {
		h.do(t, http.MethodGet, "/v1/accounts/acme/events?"+tc.query, acmeToken, "").expectError(t, http.StatusBadRequest, tc.field, tc.rule)
	}
}

func TestCallTimelineShowsEventsDeliveriesAndMedia(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	h.publish(t,
		sampleCall("acme", "t1", "call-7", event.StatusRinging, "+15550100", "5010", now),
		sampleCall("acme", "t2", "call-7", event.StatusMissed, "+15550100", "5010", now.Add(time.Second)),
		sampleVoicemail("acme", "t3", "call-7", now.Add(2*time.Second)),
		sampleCall("acme", "other", "call-8", event.StatusMissed, "+15550100", "5010", now),
		sampleCall("globex", "g1", "call-7", event.StatusMissed, "+15550100", "5010", now),
	)
	h.waitIndexed(t, "acme", 4)
	h.waitIndexed(t, "globex", 1)
	q := store.New(h.pool)
	if err := store.EnsurePartitions(t.Context(), q, store.AttemptsTable); err != nil {
		t.Fatal(err)
	}
	attempt := func(account, eventID, hookID string, n int32, result string) store.InsertAttemptsParams {
		return store.InsertAttemptsParams{
			AccountID: account, HookID: hookID, EventID: eventID, DeliveryID: bus.DeliveryID(eventID, hookID),
			Attempt: n, Result: result, RequestMethod: "POST", RequestUrl: "https://hooks.example/x",
			RequestHeaders: json.RawMessage(`{}`), CreatedAt: now.Add(time.Duration(n) * time.Second),
		}
	}
	if _, err := q.InsertAttempts(t.Context(), []store.InsertAttemptsParams{
		attempt("acme", "t2", "hookmissed", 1, "failure"),
		attempt("acme", "t2", "hookmissed", 2, "success"),
		attempt("acme", "t3", "hookvm", 1, "success"),
		attempt("acme", "other", "hookmissed", 1, "success"),
		attempt("globex", "g1", "hookg", 1, "success"),
	}); err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{"call-7", "thread-call-7"} {
		tl := h.do(t, http.MethodGet, "/v1/accounts/acme/calls/"+ref+"/timeline", acmeToken, "").expect(t, http.StatusOK).data(t)
		if got := itemEventIDs(t, tl["events"].([]any)); strings.Join(got, ",") != "t1,t2,t3" {
			t.Fatalf("timeline of %s: events %v, want t1,t2,t3 in order", ref, got)
		}
		payload, _ := tl["events"].([]any)[1].(map[string]any)["payload"].(map[string]any)
		if payload["status"] != "missed" || payload["callId"] != "call-7" {
			t.Fatalf("event payload = %v", payload)
		}
		deliveries := tl["deliveries"].([]any)
		if len(deliveries) != 2 {
			t.Fatalf("deliveries = %v", deliveries)
		}
		missed := deliveries[0].(map[string]any)
		if missed["delivery_id"] != "t2:hookmissed" || missed["result"] != "success" || len(missed["attempts"].([]any)) != 2 {
			t.Fatalf("the missed call's delivery = %v", missed)
		}
		if a := missed["attempts"].([]any)[0].(map[string]any); a["attempt"] != float64(1) || a["result"] != "failure" {
			t.Fatalf("first attempt = %v", a)
		}
		media := tl["media"].([]any)
		if len(media) != 1 {
			t.Fatalf("media = %v", media)
		}
		m := media[0].(map[string]any)
		link, err := url.Parse(m["download_url"].(string))
		if err != nil || m["media_id"] != "media-t3" || m["media_type"] != "voicemail" {
			t.Fatalf("media = %v (%v)", m, err)
		}
		account, err := medialink.VerifyQuery(h.linkKeys, "media-t3", link.Query(), time.Now())
		if err != nil || account != "acme" || link.Path != "/v1/media/media-t3" {
			t.Fatalf("download link %s: account %q, %v", link, account, err)
		}
	}

	h.do(t, http.MethodGet, "/v1/accounts/acme/calls/no-such-call/timeline", acmeToken, "").expectError(t, http.StatusNotFound, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/globex/calls/call-7/timeline", acmeToken, "").expectError(t, http.StatusForbidden, "", "")
	h.do(t, http.MethodGet, "/v1/accounts/acme/calls/"+strings.Repeat("c", 513)+"/timeline", acmeToken, "").expectError(t, http.StatusBadRequest, "call_id", "max_length")
	// globex's timeline of the same call id holds only globex's event.
	g := h.do(t, http.MethodGet, "/v1/accounts/globex/calls/call-7/timeline", globexToken, "").expect(t, http.StatusOK).data(t)
	if got := itemEventIDs(t, g["events"].([]any)); len(got) != 1 || got[0] != "g1" || len(g["deliveries"].([]any)) != 1 {
		t.Fatalf("globex's timeline = %v", g)
	}
}

func TestPreviewUsesTheMatchersRule(t *testing.T) {
	t.Parallel()
	h := newEventsHarness(t)
	now := time.Now()
	internal := sampleCall("acme", "p4", "c3", event.StatusMissed, "+15550100", "5010", now)
	internal.IsInternalLeg = true
	test := sampleCall("acme", "p6", "c5", event.StatusMissed, "+15550100", "5010", now)
	test.Source = httpapi.TestEventSource
	h.publish(t,
		sampleCall("acme", "p1", "c1", event.StatusRinging, "+15550100", "5010", now),
		sampleCall("acme", "p2", "c1", event.StatusMissed, "+15550100", "5010", now),
		sampleCall("acme", "p3", "c2", event.StatusAnswered, "+15550100", "5010", now),
		internal,
		sampleVoicemail("acme", "p5", "c1", now),
	)
	// A test fire of a hook is not a call the account had.
	subject, err := bus.EventSubject(test)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := bus.EventMsg(t.Context(), subject, test)
	if err != nil {
		t.Fatal(err)
	}
	msg.Header.Set(bus.HeaderTestHookID, "0123456789abcdef0123456789abcdef")
	if _, err := bus.PublishEvent(t.Context(), h.js, msg); err != nil {
		t.Fatal(err)
	}
	h.waitIndexed(t, "acme", 6)

	preview := func(doc string) []string {
		t.Helper()
		d := h.do(t, http.MethodPost, "/v1/accounts/acme/webhooks/preview", acmeToken, doc).expect(t, http.StatusOK).data(t)
		if d["examined"] != float64(5) {
			t.Fatalf("examined %v, want the 5 real events", d["examined"])
		}
		ids := itemEventIDs(t, d["matched"].([]any))
		return ids
	}
	check := func(doc string, want ...string) {
		t.Helper()
		if got := preview(doc); strings.Join(sorted(got), ",") != strings.Join(sorted(want), ",") {
			t.Fatalf("preview of %s = %v, want %v", doc, got, want)
		}
	}
	check(`{"data":{"name":"m","uri":"https://e.com","hook":"call","call_statuses":["missed"]}}`, "p4", "p2")
	check(`{"data":{"name":"m","uri":"https://e.com","hook":"call","call_statuses":["missed"],"include_internal_legs":false}}`, "p2")
	check(`{"data":{"name":"m","uri":"https://e.com","hook":"media","media_types":["voicemail"]}}`, "p5")
	check(`{"data":{"name":"m","uri":"https://e.com","hook":"channel_create"}}`, "p1")
	check(`{"data":{"name":"m","uri":"https://e.com","hook":"call","call_types":["outgoing_call"]}}`)

	h.do(t, http.MethodPost, "/v1/accounts/acme/webhooks/preview", acmeToken, `{"data":{"name":"m","uri":"ftp://x","hook":"call"}}`).
		expectError(t, http.StatusBadRequest, "uri", "format")
	h.do(t, http.MethodPost, "/v1/accounts/acme/webhooks/preview", acmeToken, `{"data":{"name":"m","uri":"https://e.com","hook":"call","call_statuses":["lost"]}}`).
		expectError(t, http.StatusBadRequest, "call_statuses", "enum")
	h.do(t, http.MethodPost, "/v1/accounts/acme/webhooks/preview?limit=0", acmeToken, `{"data":{}}`).expectError(t, http.StatusBadRequest, "limit", "maximum")
	h.do(t, http.MethodPost, "/v1/accounts/globex/webhooks/preview", acmeToken, `{"data":{"name":"m","uri":"https://e.com","hook":"all"}}`).
		expectError(t, http.StatusForbidden, "", "")
	// Nothing was stored.
	if hooks := h.do(t, http.MethodGet, "/v1/accounts/acme/webhooks", acmeToken, "").expect(t, http.StatusOK).list(t); len(hooks) != 0 {
		t.Fatalf("the preview stored hooks: %v", hooks)
	}
}
