package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const testMaxMediaBytes = 256 << 10

func mediaStore(t testing.TB, js jetstream.JetStream, maxBytes int64) *media.Store {
	t.Helper()
	obs, err := bus.EnsureMediaBucket(t.Context(), js, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := media.New(obs, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// formPart is one part of an upload, in order.
type formPart struct{ name, value string }

// postUpload sends a multipart form whose `file` part holds file; the other
// parts come in the order given, some before the file and some after.
func postUpload(t *testing.T, srv *httptest.Server, account string, file []byte, before, after []formPart) answer {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range before {
		if err := mw.WriteField(p.name, p.value); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("file", "vm-1.wav")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(file); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range after {
		if err := mw.WriteField(p.name, p.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return postRaw(t, srv, "/v1/accounts/"+account+"/media", mw.FormDataContentType(), buf.Bytes())
}

func postRaw(t *testing.T, srv *httptest.Server, path, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %s", resp.StatusCode, err, raw)
	}
	return a
}

func objectNames(t testing.TB, js jetstream.JetStream) []string {
	t.Helper()
	obs, err := js.ObjectStore(t.Context(), bus.MediaBucket)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := obs.List(t.Context())
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	return names
}

func dataOf(a answer) map[string]any {
	d, _ := a.body["data"].(map[string]any)
	return d
}

func TestUploadStoresObjectAndMediaEvent(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	file := bytes.Repeat([]byte("RIFF-wave-bytes\x00\xff"), 10_000) // ~170 KiB, several chunks
	a := postUpload(t, srv, "acct1", file,
		[]formPart{{"type", "voicemail"}, {"call_id", "call-9"}, {"from", "+15550001"}},
		[]formPart{{"to", "200"}, {"from_name", "Alice"}, {"to_name", "Bob"}, {"content_type", "audio/wav"}, {"thread_id", "th-1"}, {"ignored", "x"}})
	if a.status != http.StatusAccepted {
		t.Fatalf("answer %d %v, want 202", a.status, a.body)
	}
	mediaID, _ := dataOf(a)["media_id"].(string)
	eventID, _ := dataOf(a)["id"].(string)
	if len(mediaID) != 32 || eventID != mediaID {
		t.Fatalf("media id %q event id %q: want 32 hex characters, event id = media id", mediaID, eventID)
	}

	obs, err := js.ObjectStore(t.Context(), bus.MediaBucket)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := obs.GetBytes(t.Context(), mediaID)
	if err != nil {
		t.Fatalf("object %s: %v", mediaID, err)
	}
	if !bytes.Equal(stored, file) {
		t.Fatalf("stored %d bytes differ from the %d uploaded", len(stored), len(file))
	}
	// The content_type field came after the file part: the object must
	// still be labelled with it, and with its account, for the download.
	info, err := obs.GetInfo(t.Context(), mediaID)
	if err != nil {
		t.Fatal(err)
	}
	if ct := info.Headers.Get("Content-Type"); ct != "audio/wav" {
		t.Errorf("object Content-Type %q, want audio/wav", ct)
	}
	if info.Metadata["account_id"] != "acct1" || info.Description != "vm-1.wav" {
		t.Errorf("object metadata %v, description %q", info.Metadata, info.Description)
	}

	msgs := testenv.StoredMsgs(t, js, bus.StreamEvents)
	if len(msgs) != 1 || msgs[0].Subject != "events.acct1.media.voicemail" {
		t.Fatalf("EVENTS holds %d messages (%v), want one on events.acct1.media.voicemail", len(msgs), msgs)
	}
	var ev pbxhooksv1.Event
	if err := proto.Unmarshal(msgs[0].Data, &ev); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	m := ev.GetMedia()
	if m.GetMediaId() != mediaID || m.GetObjectName() != mediaID || m.GetSizeBytes() != int64(len(file)) || m.GetSha256() != hex.EncodeToString(sum[:]) {
		t.Errorf("media %v", m)
	}
	if m.GetType() != "voicemail" || m.GetFilename() != "vm-1.wav" || m.GetContentType() != "audio/wav" {
		t.Errorf("media %v", m)
	}
	if ev.GetId() != eventID || ev.GetKind() != "media" || ev.GetCallId() != "call-9" || ev.GetFrom() != "+15550001" || ev.GetTo() != "200" ||
		ev.GetFromName() != "Alice" || ev.GetToName() != "Bob" || ev.GetThreadId() != "th-1" || ev.GetAccountId() != "acct1" {
		t.Errorf("event %v", &ev)
	}
	if msgs[0].Header.Get(bus.HeaderMsgID) != "acct1/"+eventID {
		t.Errorf("Nats-Msg-Id %q", msgs[0].Header.Get(bus.HeaderMsgID))
	}
}

func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	tooBig := bytes.Repeat([]byte{7}, testMaxMediaBytes+1)
	if a := postUpload(t, srv, "acct1", tooBig, []formPart{{"type", "call_recording"}}, nil); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized file: %d %v, want 413", a.status, a.body)
	}
	a := postUpload(t, srv, "acct1", []byte("x"), []formPart{{"type", "fax"}}, nil)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body["message"].(string), "type must be one of") {
		t.Errorf("bad type: %d %v, want 400 naming type", a.status, a.body)
	}
	if a := postUpload(t, srv, "acct1", nil, []formPart{{"type", "voicemail"}}, nil); a.status != http.StatusBadRequest {
		t.Errorf("no file: %d %v, want 400", a.status, a.body)
	}
	if a := postUpload(t, srv, "acct1", []byte("x"), []formPart{{"type", "voicemail"}, {"id", "has space"}}, nil); a.status != http.StatusBadRequest {
		t.Errorf("bad id: %d %v, want 400", a.status, a.body)
	}
	if a := postUpload(t, srv, "any", []byte("x"), []formPart{{"type", "voicemail"}}, nil); a.status != http.StatusBadRequest {
		t.Errorf("shared account: %d %v, want 400", a.status, a.body)
	}
	if a := postRaw(t, srv, "/v1/accounts/acct1/media", "application/json", []byte(`{}`)); a.status != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %d %v, want 415", a.status, a.body)
	}
	if a := postRaw(t, srv, "/v1/accounts/acct1/media", "multipart/form-data; boundary=xyz", []byte("--xyz\r\nbroken")); a.status != http.StatusBadRequest {
		t.Errorf("broken multipart: %d %v, want 400", a.status, a.body)
	}
	if names := objectNames(t, js); len(names) != 0 {
		t.Errorf("refused uploads left objects %v", names)
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamEvents)); n != 0 {
		t.Errorf("EVENTS holds %d messages, want 0", n)
	}
	// The invalid forms (bad type, bad id) were dead-lettered, fields only.
	dl := testenv.StoredMsgs(t, js, bus.StreamDeadLetter)
	if len(dl) != 2 || dl[0].Subject != "pbx.deadletter.acct1" || !strings.Contains(string(dl[0].Data), `"type":"fax"`) {
		t.Errorf("dead letters %d: %v", len(dl), dl)
	}
}

func TestUploadWithIDIsStoredOnce(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	fields := []formPart{{"type", "call_recording"}, {"id", "rec-1"}, {"call_id", "c1"}}
	first := postUpload(t, srv, "acct1", []byte("audio"), fields, nil)
	again := postUpload(t, srv, "acct1", []byte("audio"), fields, nil)
	if first.status != http.StatusAccepted || again.status != http.StatusAccepted {
		t.Fatalf("answers %d %v and %d %v, want 202 twice", first.status, first.body, again.status, again.body)
	}
	if dataOf(again)["duplicate"] != true || dataOf(again)["id"] != "rec-1" {
		t.Errorf("resend answered %v, want duplicate", again.body)
	}
	if names := objectNames(t, js); len(names) != 1 || names[0] != dataOf(first)["media_id"] {
		t.Errorf("objects %v, want only the first upload's %v", names, dataOf(first)["media_id"])
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamEvents)); n != 1 {
		t.Errorf("EVENTS holds %d messages, want 1", n)
	}
}

func TestNativeMediaEventMustNameAStoredFile(t *testing.T) {
	t.Parallel()
	srv, js := setup(t)
	obs, err := js.ObjectStore(t.Context(), bus.MediaBucket)
	if err != nil {
		t.Fatal(err)
	}
	owned := jetstream.ObjectMeta{Name: "pbx-put-1", Metadata: map[string]string{bus.MediaMetaAccountID: "acct1"}}
	if _, err := obs.Put(t.Context(), owned, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	a := post(t, srv, "acct1", "application/json", `{"event":"voicemail","id":"vm-1","media_id":"pbx-put-1","call_id":"c1"}`)
	if a.status != http.StatusAccepted {
		t.Fatalf("answer %d %v", a.status, a.body)
	}
	msgs := testenv.StoredMsgs(t, js, bus.StreamEvents)
	var ev pbxhooksv1.Event
	if len(msgs) != 1 || proto.Unmarshal(msgs[0].Data, &ev) != nil {
		t.Fatalf("EVENTS %v", msgs)
	}
	sum := sha256.Sum256([]byte("hello"))
	if m := ev.GetMedia(); m.GetSizeBytes() != 5 || m.GetSha256() != hex.EncodeToString(sum[:]) || m.GetObjectName() != "pbx-put-1" {
		t.Errorf("media %v", m)
	}

	a = post(t, srv, "acct1", "application/json", `{"event":"voicemail","id":"vm-2","media_id":"nothing-here"}`)
	if a.status != http.StatusBadRequest || !strings.Contains(a.body["message"].(string), "names no file") {
		t.Errorf("missing object: %d %v, want 400", a.status, a.body)
	}
	a = post(t, srv, "acct1", "application/json", `{"event":"voicemail","id":"vm-3","media_id":"pbx-put-1","size_bytes":6}`)
	if a.status != http.StatusBadRequest {
		t.Errorf("size mismatch: %d %v, want 400", a.status, a.body)
	}
	if n := len(testenv.StoredMsgs(t, js, bus.StreamDeadLetter)); n != 2 {
		t.Errorf("DEADLETTER holds %d messages, want 2", n)
	}
}
