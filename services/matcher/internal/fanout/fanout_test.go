package fanout_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/fanout"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/hookcache"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/render"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// pipeline is a running matcher (hook cache + fan-out consumer) on real NATS
// and PostgreSQL.
type pipeline struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	q     *store.Queries
	cache *hookcache.Cache
	fan   *fanout.Fanout
}

func startPipeline(t *testing.T, setup func(q *store.Queries)) *pipeline {
	t.Helper()
	_, nc, js := testenv.JetStream(t)
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	if setup != nil {
		setup(q)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	// A long resync interval: only hooks.changed notices may refresh the
	// view during a test.
	cache := hookcache.New(hookcache.Deps{Source: q, JS: js, Log: log, ResyncInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	if err := cache.Start(ctx); err != nil {
		t.Fatalf("start hook cache: %v", err)
	}
	fan := &fanout.Fanout{JS: js, Hooks: cache, HookByID: q, Render: &render.Renderer{Links: testLinker(t)}, Log: log}
	processor := fan.Processor(2)
	done := make(chan struct{}, 2)
	go func() { _ = cache.Run(ctx); done <- struct{}{} }()
	go func() {
		if err := processor.Run(ctx); err != nil {
			t.Errorf("processor: %v", err)
		}
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return &pipeline{nc: nc, js: js, q: q, cache: cache, fan: fan}
}

// linkKeys sign the media links of every test pipeline.
var linkKeys = mustKeys("test:" + strings.Repeat("s", medialink.MinSecretBytes))

func mustKeys(spec string) []medialink.Key {
	keys, err := medialink.ParseKeys(spec)
	if err != nil {
		panic(err)
	}
	return keys
}

func testLinker(t *testing.T) *medialink.Linker {
	t.Helper()
	return &medialink.Linker{BaseURL: "https://hooks.example.com", Keys: linkKeys, TTL: 24 * time.Hour}
}

func newID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func createHook(t *testing.T, q *store.Queries, accountID, hookType string, mutate func(*store.InsertHookParams)) store.Hook {
	t.Helper()
	ctx := t.Context()
	if err := q.EnsureAccount(ctx, accountID); err != nil {
		t.Fatalf("ensure account: %v", err)
	}
	p := store.InsertHookParams{
		ID: newID("hk"), AccountID: accountID, Name: hookType, Uri: "https://example.com/" + hookType,
		HttpVerb: "post", Hook: hookType, Retries: 2, CustomData: json.RawMessage(`{}`), Enabled: true,
		Format: "json", IncludeInternalLegs: true,
		CallTypes: []string{}, CallStatuses: []string{}, MediaTypes: []string{}, Secret: "whsec_test",
	}
	if mutate != nil {
		mutate(&p)
	}
	h, err := q.InsertHook(ctx, p)
	if err != nil {
		t.Fatalf("create hook: %v", err)
	}
	return h
}

func ringingEvent(id, accountID string) *pbxhooksv1.Event {
	return &pbxhooksv1.Event{
		Id: id, AccountId: accountID, Kind: event.KindCall, Source: "native",
		OccurredAt: timestamppb.New(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
		Lifecycle:  event.LifecycleChannelCreate, CallType: event.CallTypeIncoming, Status: event.StatusRinging,
		CallId: "call-" + id, Direction: event.DirectionInbound, From: "+15550001@pbx", To: "+15550002@pbx",
	}
}

// publishEvent stores ev on EVENTS under msgID and returns its sequence.
func (p *pipeline) publishEvent(t *testing.T, ev *pbxhooksv1.Event, msgID string) uint64 {
	t.Helper()
	return p.publishEventWithHeader(t, ev, msgID, "", "")
}

// publishEventWithHeader is publishEvent with one extra header (none when
// name is empty).
func (p *pipeline) publishEventWithHeader(t *testing.T, ev *pbxhooksv1.Event, msgID, name, value string) uint64 {
	t.Helper()
	var subject string
	var err error
	if ev.Kind == event.KindMedia {
		subject, err = bus.MediaEventSubject(ev.AccountId, ev.GetMedia().GetType())
	} else {
		subject, err = bus.CallEventSubject(ev.AccountId, ev.CallType, ev.Status)
	}
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	data, err := proto.Marshal(ev)
	if err != nil {
		t.Fatalf("marshal event: %v", err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(bus.HeaderMsgID, msgID)
	if name != "" {
		m.Header.Set(name, value)
	}
	ack, err := p.js.PublishMsg(t.Context(), m)
	if err != nil {
		t.Fatalf("publish event: %v", err)
	}
	return ack.Sequence
}

// waitEventAcked polls until the matcher's consumer has acked every event up
// to seq, i.e. until its deliveries are all stored.
func (p *pipeline) waitEventAcked(t *testing.T, seq uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cons, err := p.js.Consumer(t.Context(), bus.StreamEvents, bus.ConsumerMatcher)
		if err == nil {
			info, err := cons.Info(t.Context())
			if err == nil && info.AckFloor.Stream >= seq && info.NumAckPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %d not acked by the matcher within the deadline", seq)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type storedDelivery struct {
	subject string
	msgID   string
	d       *pbxhooksv1.Delivery
}

func (p *pipeline) deliveries(t *testing.T) []storedDelivery {
	t.Helper()
	stream, err := p.js.Stream(t.Context(), bus.StreamDeliveries)
	if err != nil {
		t.Fatalf("deliveries stream: %v", err)
	}
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []storedDelivery
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := stream.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("get delivery %d: %v", seq, err)
		}
		var d pbxhooksv1.Delivery
		if err := proto.Unmarshal(raw.Data, &d); err != nil {
			t.Fatalf("delivery %d is not a Delivery: %v", seq, err)
		}
		out = append(out, storedDelivery{subject: raw.Subject, msgID: raw.Header.Get(bus.HeaderMsgID), d: &d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].d.HookId < out[j].d.HookId })
	return out
}

func TestFanOutPublishesOneDeliveryPerMatchingHook(t *testing.T) {
	t.Parallel()
	acct, other := newID("acct"), newID("other")
	var matching []store.Hook
	p := startPipeline(t, func(q *store.Queries) {
		matching = append(matching,
			createHook(t, q, acct, event.LifecycleChannelCreate, func(h *store.InsertHookParams) {
				h.CustomData = json.RawMessage(`{"screen_pop":true,"account_id":"WIRECLOUD"}`)
			}),
			createHook(t, q, acct, event.HookAll, func(h *store.InsertHookParams) { h.Retries = 5 }),
			createHook(t, q, acct, event.HookCall, func(h *store.InsertHookParams) {
				h.CallStatuses = []string{event.StatusRinging}
			}),
		)
		createHook(t, q, acct, event.LifecycleChannelAnswer, nil)
		createHook(t, q, acct, event.HookCall, func(h *store.InsertHookParams) { h.CallStatuses = []string{event.StatusMissed} })
		createHook(t, q, acct, event.HookAll, func(h *store.InsertHookParams) { h.Enabled = false })
		createHook(t, q, other, event.HookAll, nil)
	})
	sort.Slice(matching, func(i, j int) bool { return matching[i].ID < matching[j].ID })

	ev := ringingEvent(newID("ev"), acct)
	seq := p.publishEvent(t, ev, ev.Id)
	p.waitEventAcked(t, seq)

	got := p.deliveries(t)
	if len(got) != len(matching) {
		t.Fatalf("got %d deliveries, want %d (one per matching hook)", len(got), len(matching))
	}
	for i, hook := range matching {
		sd := got[i]
		wantID := ev.Id + ":" + hook.ID
		wantSubject := "deliveries." + acct + "." + hook.ID
		if sd.subject != wantSubject || sd.msgID != wantID || sd.d.Id != wantID {
			t.Errorf("delivery %d: subject %q msg id %q id %q, want %q and %q", i, sd.subject, sd.msgID, sd.d.Id, wantSubject, wantID)
		}
		if sd.d.AccountId != acct || sd.d.HookId != hook.ID || sd.d.EventId != ev.Id {
			t.Errorf("delivery %d names account %q hook %q event %q", i, sd.d.AccountId, sd.d.HookId, sd.d.EventId)
		}
		if sd.d.Method != "POST" || sd.d.Url != hook.Uri || sd.d.ContentType != "application/json" || sd.d.Retries != hook.Retries {
			t.Errorf("delivery %d request: %s %s (%s) retries %d", i, sd.d.Method, sd.d.Url, sd.d.ContentType, sd.d.Retries)
		}
		var body map[string]any
		if err := json.Unmarshal(sd.d.Body, &body); err != nil {
			t.Fatalf("delivery %d body: %v", i, err)
		}
		if hook.Hook == event.HookCall {
			// Spoke's payload.
			if body["subtype"] != event.StatusRinging || body["id"] != ev.CallId {
				t.Errorf("delivery %d body: %v", i, body)
			}
			continue
		}
		if body["hook_event"] != "channel_create" || body["call_id"] != ev.CallId {
			t.Errorf("delivery %d body: %v", i, body)
		}
		wantAccount := acct
		if hook.Hook == event.LifecycleChannelCreate {
			wantAccount = "WIRECLOUD"
			if body["screen_pop"] != true {
				t.Errorf("custom_data not merged: %v", body)
			}
		}
		if body["account_id"] != wantAccount {
			t.Errorf("delivery %d account_id = %v, want %s", i, body["account_id"], wantAccount)
		}
	}

	// The same event processed again (a matcher restarted before its ack)
	// must not store a second delivery for any hook.
	seq = p.publishEvent(t, ev, ev.Id+"-replayed")
	p.waitEventAcked(t, seq)
	if again := p.deliveries(t); len(again) != len(matching) {
		t.Fatalf("after reprocessing the event there are %d deliveries, want still %d", len(again), len(matching))
	}
}

func TestHooksChangedNoticeReloadsTheAccount(t *testing.T) {
	t.Parallel()
	acct := newID("acct")
	p := startPipeline(t, func(q *store.Queries) {
		if err := q.EnsureAccount(t.Context(), acct); err != nil {
			t.Fatalf("ensure account: %v", err)
		}
	})

	first := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEvent(t, first, first.Id))
	if got := p.deliveries(t); len(got) != 0 {
		t.Fatalf("an account without hooks got %d deliveries", len(got))
	}

	hook := createHook(t, p.q, acct, event.HookAll, nil)
	if err := bus.PublishHookChange(t.Context(), p.js, bus.HookChange{AccountID: acct, HookID: hook.ID, Change: "created"}, nil); err != nil {
		t.Fatalf("publish hooks.changed: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.cache.Hooks(acct)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("hooks.changed notice did not reload the account")
		}
		time.Sleep(10 * time.Millisecond)
	}

	next := ringingEvent(newID("ev"), acct)
	p.waitEventAcked(t, p.publishEvent(t, next, next.Id))
	got := p.deliveries(t)
	if len(got) != 1 || got[0].d.HookId != hook.ID || got[0].d.EventId != next.Id {
		t.Fatalf("after the notice, deliveries = %+v, want one for hook %s and event %s", got, hook.ID, next.Id)
	}
}

func TestBadEventIsTerminatedNotRetried(t *testing.T) {
	t.Parallel()
	p := startPipeline(t, nil)
	ack, err := p.js.Publish(t.Context(), "events.acct.call.incoming_call.ringing", []byte("\xff\xff not protobuf"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	// A terminated message counts as acked on the consumer's floor.
	p.waitEventAcked(t, ack.Sequence)
	if got := p.deliveries(t); len(got) != 0 {
		t.Fatalf("a bad event produced %d deliveries", len(got))
	}
}
