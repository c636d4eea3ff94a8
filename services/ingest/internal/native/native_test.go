package native

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

var receivedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestParseCallEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		body                          string
		wantKind, wantLifecycle       string
		wantCallType, wantStatus      string
		wantAnswered, wantHangupGiven bool
	}{
		{
			name:     "inbound create rings",
			body:     `{"event":"channel_create","call_id":"c1","direction":"inbound","from":"+15550001","to":"+15550002"}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelCreate,
			wantCallType: event.CallTypeIncoming, wantStatus: event.StatusRinging,
		},
		{
			name:     "missing direction counts as incoming",
			body:     `{"event":"channel_answer","call_id":"c1"}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelAnswer,
			wantCallType: event.CallTypeIncoming, wantStatus: event.StatusAnswered,
		},
		{
			name:     "outbound bridge",
			body:     `{"event":"channel_bridge","call_id":"c1","direction":"outbound","other_leg_call_id":"c2"}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelBridge,
			wantCallType: event.CallTypeOutgoing, wantStatus: event.StatusAnswered,
		},
		{
			name:     "billed hangup ended",
			body:     `{"event":"channel_destroy","call_id":"c1","hangup_cause":"NORMAL_CLEARING","billing_seconds":12,"duration_seconds":20}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelDestroy,
			wantCallType: event.CallTypeIncoming, wantStatus: event.StatusEnded,
			wantAnswered: true, wantHangupGiven: true,
		},
		{
			name:     "answered flag ends",
			body:     `{"event":"channel_destroy","call_id":"c1","answered":true}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelDestroy,
			wantCallType: event.CallTypeIncoming, wantStatus: event.StatusEnded,
			wantAnswered: true, wantHangupGiven: true,
		},
		{
			name:     "unanswered busy",
			body:     `{"event":"channel_destroy","call_id":"c1","direction":"outbound","hangup_cause":"USER_BUSY","billing_seconds":0}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelDestroy,
			wantCallType: event.CallTypeOutgoing, wantStatus: event.StatusBusy, wantHangupGiven: true,
		},
		{
			name:     "explicit status wins",
			body:     `{"event":"channel_destroy","call_id":"c1","hangup_cause":"USER_BUSY","status":"blocked"}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelDestroy,
			wantCallType: event.CallTypeIncoming, wantStatus: event.StatusBlocked, wantHangupGiven: true,
		},
		{
			name:     "unknown members and nulls are ignored",
			body:     `{"event":"channel_create","call_id":"c1","x_vendor":{"deep":[1,2]},"from_name":null,"hangup_cause":"USER_BUSY"}`,
			wantKind: event.KindCall, wantLifecycle: event.LifecycleChannelCreate,
			wantCallType: event.CallTypeIncoming, wantStatus: event.StatusRinging,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := parse([]byte(tt.body), "acct1", receivedAt)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ev.GetKind() != tt.wantKind || ev.GetLifecycle() != tt.wantLifecycle ||
				ev.GetCallType() != tt.wantCallType || ev.GetStatus() != tt.wantStatus {
				t.Errorf("got kind=%q lifecycle=%q call_type=%q status=%q, want %q %q %q %q",
					ev.GetKind(), ev.GetLifecycle(), ev.GetCallType(), ev.GetStatus(),
					tt.wantKind, tt.wantLifecycle, tt.wantCallType, tt.wantStatus)
			}
			if got := ev.GetHangup() != nil; got != tt.wantHangupGiven {
				t.Errorf("hangup present = %v, want %v", got, tt.wantHangupGiven)
			}
			if ev.GetHangup().GetAnswered() != tt.wantAnswered {
				t.Errorf("answered = %v, want %v", ev.GetHangup().GetAnswered(), tt.wantAnswered)
			}
			if ev.GetAccountId() != "acct1" || ev.GetSource() != source || ev.GetCallId() != "c1" {
				t.Errorf("account/source/call id = %q/%q/%q", ev.GetAccountId(), ev.GetSource(), ev.GetCallId())
			}
		})
	}
}

func TestParseCopiesFields(t *testing.T) {
	t.Parallel()
	body := `{"event":"channel_destroy","id":"pbx-42","call_id":"c1","other_leg_call_id":"c2",
		"direction":"outbound","from":"100","from_name":"Alice","to":"+15550002","to_name":"Bob",
		"request":"+15550002@example.com","inception":"+15550009@carrier.example.com",
		"timestamp":"2026-01-02T15:04:05.5+02:00","hangup_cause":"NORMAL_CLEARING","hangup_code":"sip:200","duration_seconds":30,
		"billing_seconds":25,"ringing_seconds":5,"is_internal_leg":true,
		"custom_channel_vars":{"queue":"sales"},"thread_id":"t1"}`
	ev, err := parse([]byte(body), "acct1", receivedAt)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := map[string][2]string{
		"id":                {ev.GetId(), "pbx-42"},
		"other_leg_call_id": {ev.GetOtherLegCallId(), "c2"},
		"from":              {ev.GetFrom(), "100"},
		"from_name":         {ev.GetFromName(), "Alice"},
		"to":                {ev.GetTo(), "+15550002"},
		"to_name":           {ev.GetToName(), "Bob"},
		"request":           {ev.GetRequest(), "+15550002@example.com"},
		"inception":         {ev.GetInception(), "+15550009@carrier.example.com"},
		"thread_id":         {ev.GetThreadId(), "t1"},
		"hangup_cause":      {ev.GetHangup().GetCause(), "NORMAL_CLEARING"},
		"hangup_code":       {ev.GetHangup().GetCode(), "sip:200"},
		"custom var":        {ev.GetCustomChannelVars()["queue"], "sales"},
		"occurred_at":       {ev.GetOccurredAt().AsTime().Format(time.RFC3339Nano), "2026-01-02T13:04:05.5Z"},
		"received_at":       {ev.GetReceivedAt().AsTime().Format(time.RFC3339), "2026-03-04T05:06:07Z"},
	}
	for field, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", field, c[0], c[1])
		}
	}
	h := ev.GetHangup()
	if h.GetDurationSeconds() != 30 || h.GetBillingSeconds() != 25 || h.GetRingingSeconds() != 5 || !ev.GetIsInternalLeg() {
		t.Errorf("hangup numbers or internal leg wrong: %+v internal=%v", h, ev.GetIsInternalLeg())
	}
}

func TestParseMedia(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	body := `{"event":"voicemail","call_id":"c1","media_id":"m1","filename":"vm.mp3","content_type":"audio/mpeg","size_bytes":1234,"sha256":"` + strings.ToUpper(sum) + `"}`
	ev, err := parse([]byte(body), "acct1", receivedAt)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	m := ev.GetMedia()
	if ev.GetKind() != event.KindMedia || m.GetType() != event.MediaVoicemail || ev.GetStatus() != "" || ev.GetLifecycle() != "" {
		t.Errorf("kind=%q type=%q status=%q lifecycle=%q", ev.GetKind(), m.GetType(), ev.GetStatus(), ev.GetLifecycle())
	}
	if m.GetMediaId() != "m1" || m.GetFilename() != "vm.mp3" || m.GetContentType() != "audio/mpeg" || m.GetSizeBytes() != 1234 || m.GetSha256() != sum {
		t.Errorf("media = %+v", m)
	}
	if _, err := parse([]byte(`{"event":"call_recording"}`), "acct1", receivedAt); err != nil {
		t.Errorf("a media event needs no call_id: %v", err)
	}
}

func TestParseDerivedID(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"channel_create","call_id":"c1"}`)
	a, errA := parse(body, "acct1", receivedAt)
	b, errB := parse(body, "acct1", receivedAt.Add(time.Hour))
	other, errC := parse([]byte(`{"event":"channel_create","call_id":"c2"}`), "acct1", receivedAt)
	if err := errors.Join(errA, errB, errC); err != nil {
		t.Fatal(err)
	}
	if len(a.GetId()) != 32 || strings.Trim(a.GetId(), "0123456789abcdef") != "" {
		t.Errorf("derived id %q is not 32 hex characters", a.GetId())
	}
	if a.GetId() != b.GetId() {
		t.Errorf("the same bytes gave ids %q and %q", a.GetId(), b.GetId())
	}
	if a.GetId() == other.GetId() {
		t.Errorf("different events share id %q", a.GetId())
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		account string
		body    string
		// want lists field/rule pairs that must all be reported.
		want [][2]string
	}{
		{"not json", "acct1", `{"event":`, [][2]string{{"body", adapter.RuleFormat}}},
		{"array", "acct1", `[{"event":"channel_create"}]`, [][2]string{{"body", adapter.RuleType}}},
		{"null", "acct1", `null`, [][2]string{{"body", adapter.RuleType}}},
		{"empty", "acct1", ``, [][2]string{{"body", adapter.RuleType}}},
		{"trailing garbage", "acct1", `{"event":"channel_create","call_id":"c"} x`, [][2]string{{"body", adapter.RuleFormat}}},
		{"missing event", "acct1", `{"call_id":"c1"}`, [][2]string{{"event", adapter.RuleRequired}}},
		{"unknown event", "acct1", `{"event":"channel_park","call_id":"c1"}`, [][2]string{{"event", adapter.RuleEnum}}},
		{"event not a string", "acct1", `{"event":7,"call_id":"c1"}`, [][2]string{{"event", adapter.RuleType}}},
		{"missing call id", "acct1", `{"event":"channel_create"}`, [][2]string{{"call_id", adapter.RuleRequired}}},
		{"empty call id", "acct1", `{"event":"channel_create","call_id":""}`, [][2]string{{"call_id", adapter.RuleMinLength}}},
		{"call id wrong type", "acct1", `{"event":"channel_create","call_id":12}`, [][2]string{{"call_id", adapter.RuleType}}},
		{
			"every problem listed", "acct1",
			`{"event":"channel_destroy","call_id":"c1","direction":"sideways","timestamp":"yesterday","billing_seconds":1.5,"duration_seconds":-1,"answered":"yes","status":"great","custom_channel_vars":{"a":1}}`,
			[][2]string{
				{"direction", adapter.RuleEnum}, {"timestamp", adapter.RuleFormat},
				{"billing_seconds", adapter.RuleType}, {"duration_seconds", adapter.RuleMinimum},
				{"answered", adapter.RuleType}, {"status", adapter.RuleEnum},
				{"custom_channel_vars", adapter.RuleType},
			},
		},
		{"string too long", "acct1", `{"event":"channel_create","call_id":"c1","from":"` + strings.Repeat("x", 513) + `"}`, [][2]string{{"from", adapter.RuleMaxLength}}},
		{"huge number", "acct1", `{"event":"channel_destroy","call_id":"c1","billing_seconds":99999999999999999999999}`, [][2]string{{"billing_seconds", adapter.RuleMaximum}}},
		{"empty id", "acct1", `{"event":"channel_create","call_id":"c1","id":""}`, [][2]string{{"id", adapter.RuleMinLength}}},
		{"id with space", "acct1", `{"event":"channel_create","call_id":"c1","id":"a b"}`, [][2]string{{"id", adapter.RulePattern}}},
		{"id not ascii", "acct1", `{"event":"channel_create","call_id":"c1","id":"caf\u00e9"}`, [][2]string{{"id", adapter.RulePattern}}},
		{"id too long", "acct1", `{"event":"channel_create","call_id":"c1","id":"` + strings.Repeat("a", 129) + `"}`, [][2]string{{"id", adapter.RuleMaxLength}}},
		{"bad sha256", "acct1", `{"event":"voicemail","sha256":"xyz"}`, [][2]string{{"sha256", adapter.RulePattern}}},
		{"too many custom vars", "acct1", `{"event":"channel_create","call_id":"c1","custom_channel_vars":{` + manyVars(65) + `}}`, [][2]string{{"custom_channel_vars", adapter.RuleMaxProperties}}},
		{"bad account", "acct.1", `{"event":"channel_create","call_id":"c1"}`, [][2]string{{"account_id", adapter.RulePattern}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := parse([]byte(tt.body), tt.account, receivedAt)
			var verr *adapter.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse = %v, %v; want a ValidationError", ev, err)
			}
			for _, w := range tt.want {
				found := false
				for _, f := range verr.Fields {
					found = found || f.Field == w[0] && f.Rule == w[1]
				}
				if !found {
					t.Errorf("missing %s/%s in %+v", w[0], w[1], verr.Fields)
				}
			}
			if len(verr.Fields) != len(tt.want) {
				t.Errorf("got %d problems, want %d: %+v", len(verr.Fields), len(tt.want), verr.Fields)
			}
		})
	}
}

func manyVars(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"k` + strings.Repeat("x", i) + `":"v"`
	}
	return strings.Join(parts, ",")
}
