package consume

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// stored is one event found on EVENTS.
type stored struct {
	subject string
	event   *pbxhooksv1.Event
}

// eventsByCall reads every EVENTS message, grouped by call id in stream
// order.
func eventsByCall(t *testing.T, js jetstream.JetStream) map[string][]stored {
	t.Helper()
	s, err := js.Stream(t.Context(), bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]stored{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		ev := &pbxhooksv1.Event{}
		if err := proto.Unmarshal(m.Data, ev); err != nil {
			t.Fatal(err)
		}
		out[ev.GetCallId()] = append(out[ev.GetCallId()], stored{m.Subject, ev})
	}
	return out
}

// fsBody is a FreeSWITCH `event json` event; fields override the defaults
// and an empty value removes a header.
func fsBody(name, uuid, eventUUID string, fields map[string]string) string {
	h := map[string]string{
		"Event-Name": name, "Event-UUID": eventUUID, "Unique-ID": uuid,
		"Core-UUID": "core-1", "FreeSWITCH-Hostname": "fs1", "Event-Date-Timestamp": "1772600767123456",
		"Call-Direction": "inbound", "Answer-State": "ringing",
		"Caller-Caller-ID-Number": "+15550001", "Caller-Caller-ID-Name": "Alice", "Caller-Destination-Number": "200",
	}
	maps.Copy(h, fields)
	for k, v := range h {
		if v == "" {
			delete(h, k)
		}
	}
	b, _ := json.Marshal(h)
	return string(b)
}

// fsHangup is CHANNEL_HANGUP_COMPLETE of a leg never answered.
func fsHangup(uuid, cause, q850, sip string, extra map[string]string) string {
	f := map[string]string{"Answer-State": "hangup", "Hangup-Cause": cause, "variable_hangup_cause_q850": q850,
		"variable_sip_term_status": sip, "variable_duration": "20", "variable_billsec": "0", "variable_answer_epoch": "0"}
	maps.Copy(f, extra)
	return fsBody("CHANNEL_HANGUP_COMPLETE", uuid, uuid+"-hangup", f)
}

type scenario struct {
	callID string
	bodies []string
	// want is the subject of each stored event of the call, in order.
	want []string
}

func TestFreeSWITCHSequencesOverNATS(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	const subj = "pbx.freeswitch.acct1"
	in := "events.acct1.call.incoming_call."
	out := "events.acct1.call.outgoing_call."
	answered := fsBody("CHANNEL_HANGUP_COMPLETE", "ans", "ans-hangup", map[string]string{
		"Answer-State": "hangup", "Hangup-Cause": "NORMAL_CLEARING", "variable_hangup_cause_q850": "16",
		"variable_duration": "42", "variable_billsec": "30", "variable_answer_epoch": "1772600737"})
	scenarios := []scenario{
		{"ans", []string{
			fsBody("CHANNEL_CREATE", "ans", "ans-create", nil),
			fsBody("CHANNEL_CREATE", "ans", "ans-create", nil), // re-sent by the PBX
			fsBody("CHANNEL_ANSWER", "ans", "ans-answer", map[string]string{"Answer-State": "answered"}),
			fsBody("CHANNEL_BRIDGE", "ans", "ans-bridge", map[string]string{"Answer-State": "answered", "Other-Leg-Unique-ID": "b"}),
			answered,
		}, []string{in + "ringing", in + "answered", in + "answered", in + "ended"}},
		{"busy", []string{fsBody("CHANNEL_CREATE", "busy", "busy-create", map[string]string{"Call-Direction": "outbound"}),
			fsHangup("busy", "USER_BUSY", "17", "486", map[string]string{"Call-Direction": "outbound"})},
			[]string{out + "ringing", out + "busy"}},
		{"noans", []string{fsBody("CHANNEL_CREATE", "noans", "noans-create", nil), fsHangup("noans", "NO_ANSWER", "19", "480", nil)},
			[]string{in + "ringing", in + "no_answer"}},
		{"rej", []string{fsBody("CHANNEL_CREATE", "rej", "rej-create", nil), fsHangup("rej", "CALL_REJECTED", "21", "603", nil)},
			[]string{in + "ringing", in + "rejected"}},
		{"inv", []string{fsBody("CHANNEL_CREATE", "inv", "inv-create", nil), fsHangup("inv", "UNALLOCATED_NUMBER", "1", "404", nil)},
			[]string{in + "ringing", in + "invalid"}},
		{"na", []string{fsBody("CHANNEL_CREATE", "na", "na-create", nil), fsHangup("na", "USER_NOT_REGISTERED", "20", "", nil)},
			[]string{in + "ringing", in + "not_available"}},
		{"blk", []string{fsBody("CHANNEL_CREATE", "blk", "blk-create", nil), fsHangup("blk", "OUTGOING_CALL_BARRED", "52", "", nil)},
			[]string{in + "ringing", in + "blocked"}},
		{"miss", []string{fsBody("CHANNEL_CREATE", "miss", "miss-create", nil), fsHangup("miss", "ORIGINATOR_CANCEL", "16", "487", nil)},
			[]string{in + "ringing", in + "missed"}},
		{"cancel-out", []string{fsHangup("cancel-out", "ORIGINATOR_CANCEL", "16", "487", map[string]string{"Call-Direction": "outbound"})},
			[]string{out + "no_answer"}},
		{"lost", []string{fsBody("CHANNEL_CREATE", "lost", "lost-create", map[string]string{"Call-Direction": "outbound"}),
			fsHangup("lost", "LOSE_RACE", "16", "", map[string]string{"Call-Direction": "outbound"})},
			[]string{out + "ringing", out + "none"}},
	}
	total := 0
	for _, sc := range scenarios {
		for _, b := range sc.bodies {
			pbxPublish(t, js, subj, b)
		}
		total += len(sc.want)
	}
	// A multi-tenant PBX on the shared subject, naming the account in the
	// channel variable; a heartbeat (ignored) and garbage (dead-lettered).
	pbxPublish(t, js, "pbx.freeswitch.any", fsBody("CHANNEL_CREATE", "shared", "shared-create", map[string]string{"variable_account_id": "acct1"}))
	total++
	pbxPublish(t, js, subj, `{"Event-Name":"HEARTBEAT","Up-Time":"1 day"}`)
	pbxPublish(t, js, "pbx.freeswitch.any", fsBody("CHANNEL_CREATE", "", "broken-create", map[string]string{"variable_account_id": "acct7"}))
	startConsumer(t, js)

	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
	testenv.Eventually(t, 15*time.Second, "every event on EVENTS", func() bool { return testenv.StreamMsgs(t, js, bus.StreamEvents) >= uint64(total) })
	got := eventsByCall(t, js)
	for _, sc := range scenarios {
		var subjects []string
		for _, s := range got[sc.callID] {
			subjects = append(subjects, s.subject)
		}
		// Workers run concurrently, so EVENTS holds a call's events in
		// any order; each carries occurred_at.
		slices.Sort(subjects)
		if want := slices.Sorted(slices.Values(sc.want)); !slices.Equal(subjects, want) {
			t.Errorf("call %s: stored %v, want %v", sc.callID, subjects, sc.want)
		}
	}
	if s := got["shared"]; len(s) != 1 || s[0].subject != in+"ringing" || s[0].event.GetAccountId() != "acct1" {
		t.Errorf("shared-subject event stored as %v", s)
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamEvents); n != uint64(total) {
		t.Errorf("EVENTS holds %d messages, want %d", n, total)
	}
	var ansHangup *pbxhooksv1.Event
	for _, s := range got["ans"] {
		if s.event.GetLifecycle() == "channel_destroy" {
			ansHangup = s.event
		}
	}
	if h := ansHangup.GetHangup(); h.GetBillingSeconds() != 30 || h.GetDurationSeconds() != 42 || !h.GetAnswered() {
		t.Errorf("answered hangup %v", h)
	}
	// The broken event named its account: its dead letter is filed there.
	testenv.Eventually(t, 15*time.Second, "the dead letter", func() bool { return testenv.StreamMsgs(t, js, bus.StreamDeadLetter) == 1 })
	d := firstMsg(t, js, bus.StreamDeadLetter)
	if d.Subject != "pbx.deadletter.acct7" || !strings.Contains(d.Header.Get(bus.HeaderDeadLetterReason), "Unique-ID is required") {
		t.Errorf("dead letter on %s: %q", d.Subject, d.Header.Get(bus.HeaderDeadLetterReason))
	}
}

// ariBody is an ARI event for channel id in state, with the account in the
// channel variables.
func ariBody(typ, id, state, appName string, extra map[string]any) string {
	m := map[string]any{
		"type": typ, "timestamp": "2026-03-04T05:06:07.250+0000", "application": "pbxhooks",
		"channel": map[string]any{
			"id": id, "name": "PJSIP/100-" + id, "state": state,
			"caller":       map[string]any{"name": "Alice", "number": "100"},
			"connected":    map[string]any{"name": "", "number": ""},
			"dialplan":     map[string]any{"context": "default", "exten": "200", "priority": 1, "app_name": appName, "app_data": ""},
			"creationtime": "2026-03-04T05:05:25.000+0000",
			"channelvars":  map[string]string{"account_id": "acct2"},
		},
	}
	maps.Copy(m, extra)
	b, _ := json.Marshal(m)
	return string(b)
}

func ariDestroyed(id, state, appName string, cause int) string {
	return ariBody("ChannelDestroyed", id, state, appName, map[string]any{"cause": cause, "cause_txt": fmt.Sprintf("cause %d", cause)})
}

func TestARISequencesOverNATS(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	const subj = "pbx.ari.any" // the account comes from channelvars
	in := "events.acct2.call.incoming_call."
	out := "events.acct2.call.outgoing_call."
	unanswered := func(id, appName string, cause int, want string) scenario {
		ringing := want[:strings.LastIndexByte(want, '.')+1] + "ringing"
		return scenario{id, []string{
			ariBody("ChannelCreated", id, "Ring", appName, nil),
			ariBody("ChannelStateChange", id, "Ringing", appName, nil),
			ariDestroyed(id, "Ringing", appName, cause),
		}, []string{ringing, want}}
	}
	scenarios := []scenario{
		{"1.1", []string{
			ariBody("ChannelCreated", "1.1", "Ring", "", nil),
			ariBody("StasisStart", "1.1", "Ring", "", nil),
			ariBody("ChannelStateChange", "1.1", "Ringing", "", nil),
			ariBody("ChannelStateChange", "1.1", "Up", "", nil),
			ariBody("ChannelDtmfReceived", "1.1", "Up", "", map[string]any{"digit": "1"}),
			ariDestroyed("1.1", "Up", "", 16),
		}, []string{in + "ringing", in + "answered", in + "ended"}},
		unanswered("1.2", "AppDial", 17, out+"busy"),
		unanswered("1.3", "AppDial", 19, out+"no_answer"),
		unanswered("1.4", "", 21, in+"rejected"),
		unanswered("1.5", "", 1, in+"invalid"),
		unanswered("1.6", "AppDial", 20, out+"not_available"),
		unanswered("1.7", "", 54, in+"blocked"),
		unanswered("1.8", "", 16, in+"missed"),
		unanswered("1.9", "AppDial", 16, out+"no_answer"),
		unanswered("1.10", "AppDial", 26, out+"none"),
	}
	total := 0
	for _, sc := range scenarios {
		for _, b := range sc.bodies {
			pbxPublish(t, js, subj, b)
		}
		total += len(sc.want)
	}
	startConsumer(t, js)
	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
	testenv.Eventually(t, 15*time.Second, "every event on EVENTS", func() bool { return testenv.StreamMsgs(t, js, bus.StreamEvents) >= uint64(total) })
	got := eventsByCall(t, js)
	for _, sc := range scenarios {
		var subjects []string
		for _, s := range got[sc.callID] {
			subjects = append(subjects, s.subject)
		}
		// Workers run concurrently, so EVENTS holds a call's events in
		// any order; each carries occurred_at.
		slices.Sort(subjects)
		if want := slices.Sorted(slices.Values(sc.want)); !slices.Equal(subjects, want) {
			t.Errorf("channel %s: stored %v, want %v", sc.callID, subjects, sc.want)
		}
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamEvents); n != uint64(total) {
		t.Errorf("EVENTS holds %d messages, want %d", n, total)
	}
	if n := testenv.StreamMsgs(t, js, bus.StreamDeadLetter); n != 0 {
		t.Errorf("DEADLETTER holds %d messages, want 0", n)
	}
}

func TestNATSMediaEventNamesAStoredObject(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	obs, err := bus.EnsureMediaBucket(t.Context(), js, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	file := []byte(strings.Repeat("recording", 1000))
	// Stored for acct3, as ingest's upload stores it.
	owned := jetstream.ObjectMeta{Name: "rec-obj-1", Metadata: map[string]string{bus.MediaMetaAccountID: "acct3"}}
	if _, err := obs.Put(t.Context(), owned, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	// Put straight into the bucket: nobody's, so no event may name it.
	if _, err := obs.PutBytes(t.Context(), "rec-nobody", file); err != nil {
		t.Fatal(err)
	}
	pbxPublish(t, js, "pbx.events.acct3", `{"event":"call_recording","id":"rec-1","media_id":"rec-obj-1","call_id":"c1","content_type":"audio/mpeg"}`)
	pbxPublish(t, js, "pbx.events.acct3", `{"event":"voicemail","id":"vm-missing","media_id":"not-there","call_id":"c2"}`)
	pbxPublish(t, js, "pbx.events.acct3", `{"event":"voicemail","id":"vm-nobody","media_id":"rec-nobody","call_id":"c3"}`)
	startConsumer(t, js)

	testenv.Eventually(t, 15*time.Second, "the PBX stream to drain", func() bool { return testenv.StreamMsgs(t, js, bus.StreamPBX) == 0 })
	if n := testenv.StreamMsgs(t, js, bus.StreamEvents); n != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1", n)
	}
	m := firstMsg(t, js, bus.StreamEvents)
	var ev pbxhooksv1.Event
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	if m.Subject != "events.acct3.media.call_recording" || ev.GetMedia().GetSizeBytes() != int64(len(file)) ||
		ev.GetMedia().GetSha256() != hex.EncodeToString(sum[:]) || ev.GetMedia().GetObjectName() != "rec-obj-1" {
		t.Errorf("stored %s %v", m.Subject, ev.GetMedia())
	}
	testenv.Eventually(t, 15*time.Second, "the dead letters", func() bool { return testenv.StreamMsgs(t, js, bus.StreamDeadLetter) == 2 })
	d := firstMsg(t, js, bus.StreamDeadLetter)
	if d.Subject != "pbx.deadletter.acct3" || !strings.Contains(d.Header.Get(bus.HeaderDeadLetterReason), "names no file") {
		t.Errorf("dead letter on %s: %q", d.Subject, d.Header.Get(bus.HeaderDeadLetterReason))
	}
}
