package console_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// indexed is one events-index row a test stores, as the API's indexer
// would have from an ingested event.
type indexed struct {
	id, callID, kind, status, mediaType, mediaID, from, to string
	at                                                     time.Time
}

// index stores events of account in the events index, and attempts of
// deliveries to hooks, as the indexer and deliverer would have.
func (r *rig) index(t *testing.T, account string, events []indexed, attempts []store.InsertAttemptsParams) {
	t.Helper()
	q := store.New(r.pool)
	for _, table := range []store.PartitionedTable{store.EventsIndexTable, store.AttemptsTable} {
		if err := store.EnsurePartitions(t.Context(), q, table); err != nil {
			t.Fatal(err)
		}
	}
	var p store.InsertIndexedEventsParams
	for _, e := range events {
		payload, err := json.Marshal(map[string]string{"id": e.id, "callId": e.callID, "status": e.status})
		if err != nil {
			t.Fatal(err)
		}
		lifecycle, callType := "channel_destroy", "incoming_call"
		if e.kind == "media" {
			lifecycle, callType = "", ""
		}
		p.AccountIds = append(p.AccountIds, account)
		p.EventIds = append(p.EventIds, e.id)
		p.Kinds = append(p.Kinds, e.kind)
		p.Lifecycles = append(p.Lifecycles, lifecycle)
		p.CallTypes = append(p.CallTypes, callType)
		p.Statuses = append(p.Statuses, e.status)
		p.MediaTypes = append(p.MediaTypes, e.mediaType)
		p.MediaIds = append(p.MediaIds, e.mediaID)
		p.InternalLegs = append(p.InternalLegs, false)
		p.CallIds = append(p.CallIds, e.callID)
		p.ThreadIds = append(p.ThreadIds, "thread-"+e.callID)
		p.FromNumbers = append(p.FromNumbers, e.from)
		p.ToNumbers = append(p.ToNumbers, e.to)
		p.Directions = append(p.Directions, "inbound")
		p.Sources = append(p.Sources, "native")
		p.TestHookIds = append(p.TestHookIds, "")
		p.OccurredAts = append(p.OccurredAts, e.at)
		p.ReceivedAts = append(p.ReceivedAts, e.at)
		p.Payloads = append(p.Payloads, payload)
	}
	if _, err := q.InsertIndexedEvents(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if len(attempts) > 0 {
		if _, err := q.InsertAttempts(t.Context(), attempts); err != nil {
			t.Fatal(err)
		}
	}
}

func attemptOf(account, eventID, hookID string, n int32, result string, at time.Time) store.InsertAttemptsParams {
	return store.InsertAttemptsParams{
		AccountID: account, HookID: hookID, EventID: eventID, DeliveryID: bus.DeliveryID(eventID, hookID),
		Attempt: n, Result: result, RequestMethod: "POST", RequestUrl: "https://crm.example.com/missed",
		RequestHeaders: json.RawMessage(`{"webhook-id":["` + bus.DeliveryID(eventID, hookID) + `"]}`), CreatedAt: at,
	}
}

// missedCallWithVoicemail indexes acme's call-7 (ringing, missed, a
// voicemail) with two attempts of the missed call's delivery to hookID.
func missedCallWithVoicemail(t *testing.T, r *rig, hookID string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r.index(t, "acme", []indexed{
		{id: "ev-ring", callID: "call-7", kind: "call", status: "ringing", from: "+15550100", to: "5010", at: now},
		{id: "ev-missed", callID: "call-7", kind: "call", status: "missed", from: "+15550100", to: "5010", at: now.Add(time.Second)},
		{id: "ev-vm", callID: "call-7", kind: "media", status: "ended", mediaType: "voicemail", mediaID: "media-vm", from: "+15550100", to: "5010", at: now.Add(2 * time.Second)},
		{id: "ev-other", callID: "call-8", kind: "call", status: "missed", from: "+15550199", to: "5011", at: now},
	}, []store.InsertAttemptsParams{
		attemptOf("acme", "ev-missed", hookID, 1, "failure", now.Add(2*time.Second)),
		attemptOf("acme", "ev-missed", hookID, 2, "success", now.Add(3*time.Second)),
	})
}

func TestCallTimelineShowsEventsDeliveriesAndMedia(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	hookID := createCallHook(t, b, "https://crm.example.com/missed")
	missedCallWithVoicemail(t, r, hookID)

	b.get("/console/a/acme/deliveries").expect(t, http.StatusOK, `action="/console/a/acme/timeline"`, `name="call"`)
	b.get("/console/a/acme/timeline").expect(t, http.StatusOK, `<label for="call">Call id or thread id</label>`)
	for _, ref := range []string{"call-7", "thread-call-7"} {
		p := b.get("/console/a/acme/timeline?call="+ref).expect(t, http.StatusOK,
			"Events as ingested (3)", "ev-ring", "ev-missed", "ev-vm", `status-missed`, `status-ringing`, "&#43;15550100 → 5010",
			"Deliveries (1)", "Missed calls", "2 attempt(s)", "attempt 1", "attempt 2",
			`<audio controls preload="none" src="/v1/media/media-vm?`, `href="https://api.example/v1/media/media-vm?`,
			`&#34;callId&#34;: &#34;call-7&#34;`)
		if got := strings.Count(p.body, `<span class="result failure">failure</span> attempt 1`); got != 1 {
			t.Fatalf("the failed first attempt is shown %d times, want once:\n%s", got, p.body)
		}
		if strings.Count(p.body, "ev-other") != 0 {
			t.Fatalf("call-8's event is on call-7's timeline:\n%s", p.body)
		}
	}
	b.get("/console/a/acme/timeline?call=no-such-call").expect(t, http.StatusNotFound, "No event of call <code>no-such-call</code> is indexed")
	b.get("/console/a/acme/timeline?call="+strings.Repeat("c", 513)).expect(t, http.StatusBadRequest, "call_id")
}

func TestDeliveriesSearchByCallIDOrNumber(t *testing.T) {
	r := newRig(t)
	b := r.browser(t)
	b.signIn(adminToken).redirectsTo(t, "/console")
	hookID := createCallHook(t, b, "https://crm.example.com/missed")
	missedCallWithVoicemail(t, r, hookID)
	now := time.Now().UTC()
	r.index(t, "acme", nil, []store.InsertAttemptsParams{attemptOf("acme", "ev-other", hookID, 1, "success", now)})

	for _, query := range []string{"call=call-7", "call=thread-call-7", "number=%2B15550100"} {
		p := b.get("/console/a/acme/deliveries?"+query).expect(t, http.StatusOK,
			"Deliveries of 1 call(s)", `href="/console/a/acme/timeline?call=`, "attempt 1", "attempt 2")
		if strings.Contains(p.body, "ev-other") {
			t.Fatalf("%s shows call-8's delivery:\n%s", query, p.body)
		}
	}
	p := b.get("/console/a/acme/deliveries?call=call-7&result=failure").expect(t, http.StatusOK, "attempt 1")
	if strings.Contains(p.body, "attempt 2") {
		t.Fatalf("the result filter let a success through:\n%s", p.body)
	}
	b.get("/console/a/acme/deliveries?number=5011").expect(t, http.StatusOK, "Deliveries of 1 call(s)", "ev-other")
	b.get("/console/a/acme/deliveries?call=no-such-call").expect(t, http.StatusOK, "No indexed call matches", "No deliveries match")
	b.get("/console/a/acme/deliveries?number="+strings.Repeat("1", 513)).expect(t, http.StatusBadRequest, "number")
}
