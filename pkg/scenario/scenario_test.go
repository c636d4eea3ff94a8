package scenario

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

func TestBuildEveryScenarioIsATestCallWithTheDocumentedCallbacks(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		MissedCall:    {"channel_create/ringing", "channel_destroy/missed"},
		AnsweredCall:  {"channel_create/ringing", "channel_answer/answered", "channel_destroy/ended"},
		Busy:          {"channel_create/ringing", "channel_destroy/busy"},
		NoAnswer:      {"channel_create/ringing", "channel_destroy/no_answer"},
		Voicemail:     {"channel_create/ringing", "channel_destroy/missed", "media/voicemail"},
		CallRecording: {"channel_create/ringing", "channel_answer/answered", "channel_destroy/ended", "media/call_recording"},
	}
	if len(want) != len(Names) {
		t.Fatalf("the test covers %d scenarios, Names has %d", len(want), len(Names))
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, name := range Names {
		seq, err := Build(name, Options{Now: now})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []string
		for _, cb := range seq.Callbacks() {
			got = append(got, cb.String())
		}
		if strings.Join(got, " ") != strings.Join(want[name], " ") {
			t.Errorf("%s callbacks %v, want %v", name, got, want[name])
		}
		if !IsTestCall(seq.CallID) || !IsTestCall(seq.ThreadID) {
			t.Errorf("%s: call %q / thread %q not recognised as a test call", name, seq.CallID, seq.ThreadID)
		}
		ids := map[string]bool{}
		var last time.Time
		for i, st := range seq.Steps {
			if (st.Event == nil) == (st.Upload == nil) {
				t.Fatalf("%s step %d: want exactly one of Event and Upload", name, i)
			}
			if st.Upload != nil {
				f := st.Upload.Fields
				if f["call_id"] != seq.CallID || f["thread_id"] != seq.ThreadID || f["type"] != st.Callback.MediaType || f["content_type"] != WAVContentType {
					t.Errorf("%s step %d upload fields %v", name, i, f)
				}
				ids[f["id"]] = true
				continue
			}
			var ev nativeEvent
			if err := json.Unmarshal(st.Event, &ev); err != nil {
				t.Fatalf("%s step %d: %v", name, i, err)
			}
			if ev.Event != st.Callback.Lifecycle || ev.CallID != seq.CallID || ev.ThreadID != seq.ThreadID ||
				ev.Direction != event.DirectionInbound || ev.From != DefaultFrom || ev.To != DefaultTo {
				t.Errorf("%s step %d: event %s", name, i, st.Event)
			}
			if ev.CustomChannelVars[event.TestVar] != "true" {
				t.Errorf("%s step %d: no test marker in %s", name, i, st.Event)
			}
			at, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
			if err != nil || at.After(now) || at.Before(last) {
				t.Errorf("%s step %d: timestamp %q not in order before %s", name, i, ev.Timestamp, now)
			}
			last = at
			ids[ev.ID] = true
		}
		if len(ids) != len(seq.Steps) {
			t.Errorf("%s: %d distinct ids for %d steps", name, len(ids), len(seq.Steps))
		}
	}
}

// nativeEvent is what the tests read of a native event.
type nativeEvent struct {
	Event             string            `json:"event"`
	ID                string            `json:"id"`
	CallID            string            `json:"call_id"`
	ThreadID          string            `json:"thread_id"`
	Direction         string            `json:"direction"`
	From              string            `json:"from"`
	To                string            `json:"to"`
	Timestamp         string            `json:"timestamp"`
	CustomChannelVars map[string]string `json:"custom_channel_vars"`
}

func TestBuildOutboundMissedCallIsNoAnswerAndOverridesApply(t *testing.T) {
	t.Parallel()
	seq, err := Build(MissedCall, Options{From: "5010", To: "+4930123456", Direction: event.DirectionOutbound})
	if err != nil {
		t.Fatal(err)
	}
	final := seq.Steps[len(seq.Steps)-1]
	if final.Callback.Status != event.StatusNoAnswer || final.Callback.CallType != event.CallTypeOutgoing {
		t.Errorf("outbound missed-call ends %+v, want outgoing_call no_answer", final.Callback)
	}
	var ev nativeEvent
	if err := json.Unmarshal(final.Event, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.From != "5010" || ev.To != "+4930123456" || ev.Direction != event.DirectionOutbound {
		t.Errorf("overrides not applied: %s", final.Event)
	}
	other, err := Build(MissedCall, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if other.CallID == seq.CallID {
		t.Error("two sequences share a call id")
	}
}

func TestBuildRefusesBadOptionsNamingTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		opts  Options
		field string
	}{
		{"ringing-forever", Options{}, "scenario"},
		{MissedCall, Options{Direction: "sideways"}, "direction"},
		{MissedCall, Options{From: strings.Repeat("1", MaxPartyBytes+1)}, "from"},
		{MissedCall, Options{To: "50\n10"}, "to"},
		{MissedCall, Options{To: "\xff"}, "to"},
	}
	for _, c := range cases {
		_, err := Build(c.name, c.opts)
		var invalid *InvalidError
		if !errors.As(err, &invalid) || invalid.Field != c.field {
			t.Errorf("Build(%q, %+v) = %v, want an InvalidError on %s", c.name, c.opts, err, c.field)
		}
	}
}

func TestToneWAVIsAPlayablePCMFile(t *testing.T) {
	t.Parallel()
	wav := ToneWAV(440, time.Second)
	if string(wav[0:4]) != "RIFF" || string(wav[8:12]) != "WAVE" || string(wav[12:16]) != "fmt " || string(wav[36:40]) != "data" {
		t.Fatalf("not a WAV header: % x", wav[:44])
	}
	if got := binary.LittleEndian.Uint32(wav[4:]); int(got) != len(wav)-8 {
		t.Errorf("RIFF size %d, file %d bytes", got, len(wav))
	}
	if got := binary.LittleEndian.Uint32(wav[40:]); got != 2*wavSampleRate || len(wav) != 44+2*wavSampleRate {
		t.Errorf("data size %d, file %d bytes; want one second of 16-bit 8 kHz mono", got, len(wav))
	}
	if got := binary.LittleEndian.Uint32(wav[24:]); got != wavSampleRate {
		t.Errorf("sample rate %d", got)
	}
	peak := int16(0)
	for i := 44; i < len(wav); i += 2 {
		peak = max(peak, int16(binary.LittleEndian.Uint16(wav[i:])))
	}
	if peak < 8000 {
		t.Errorf("peak sample %d: the tone is silent", peak)
	}
}

// recordedRequest is what the fake ingest got.
type recordedRequest struct {
	path, auth string
	fields     map[string]string
	file       []byte
	event      []byte
}

func TestIngestSendPostsEventsAndUploadsInOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []recordedRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordedRequest{path: r.URL.Path, auth: r.Header.Get("Authorization"), fields: map[string]string{}}
		mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "multipart/form-data" {
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				if p.FormName() == "file" {
					rec.file = b
				} else {
					rec.fields[p.FormName()] = string(b)
				}
			}
		} else {
			rec.event, _ = io.ReadAll(r.Body)
		}
		mu.Lock()
		got = append(got, rec)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	seq, err := Build(Voicemail, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := (Ingest{BaseURL: srv.URL + "/", Token: "tok"}).Send(t.Context(), "acct-1", seq); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for i, want := range []string{"/v1/accounts/acct-1/events", "/v1/accounts/acct-1/events", "/v1/accounts/acct-1/media"} {
		if got[i].path != want || got[i].auth != "Bearer tok" {
			t.Errorf("request %d: %s with %q, want %s with the bearer token", i, got[i].path, got[i].auth, want)
		}
	}
	if string(got[0].event) != string(seq.Steps[0].Event) {
		t.Errorf("first event %s, want %s", got[0].event, seq.Steps[0].Event)
	}
	up := got[2]
	if string(up.file) != string(seq.Steps[2].Upload.File) || up.fields["type"] != event.MediaVoicemail || up.fields["call_id"] != seq.CallID {
		t.Errorf("upload fields %v, %d file bytes", up.fields, len(up.file))
	}
}

func TestIngestSendReportsTheRefusedStep(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"status":"error","error":"403","message":"this token may not send for account acct-1"}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	seq, err := Build(AnsweredCall, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = Ingest{BaseURL: srv.URL, Token: "tok"}.Send(t.Context(), "acct-1", seq)
	var refused *IngestError
	if !errors.As(err, &refused) || refused.Step != 1 || refused.Status != http.StatusForbidden ||
		refused.Message != "this token may not send for account acct-1" {
		t.Fatalf("Send = %v, want an IngestError for step 1 with ingest's message", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests after a refusal, want the sequence to stop at 2", n)
	}
	if err := (Ingest{BaseURL: srv.URL}).Send(t.Context(), "bad/account", seq); !errors.Is(err, event.ErrInvalidAccountID) {
		t.Errorf("bad account: %v", err)
	}
	if err := (Ingest{BaseURL: "ftp://x"}).Send(t.Context(), "acct-1", seq); err == nil {
		t.Error("an ftp ingest URL was accepted")
	}
}
