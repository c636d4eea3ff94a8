package httpapi_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// mediaFixture is an API whose media link clock the test moves, over an
// Object Store bucket the test fills.
type mediaFixture struct {
	h       *harness
	objects jetstream.ObjectStore
	linker  *medialink.Linker
	now     *atomic.Int64
}

var mediaIssued = time.Date(2024, 7, 19, 12, 0, 0, 0, time.UTC)

func newMediaFixture(t *testing.T, verifyKeys ...medialink.Key) *mediaFixture {
	t.Helper()
	keys, err := medialink.ParseKeys("k2024:" + strings.Repeat("n", medialink.MinSecretBytes))
	if err != nil {
		t.Fatalf("keys: %v", err)
	}
	if verifyKeys == nil {
		verifyKeys = keys
	}
	now := &atomic.Int64{}
	now.Store(mediaIssued.Unix())
	h := newHarness(t, func(d *httpapi.Deps) {
		d.Media = httpapi.MediaDeps{LinkKeys: verifyKeys, Now: func() time.Time { return time.Unix(now.Load(), 0) }}
	})
	objects, err := h.js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: bus.MediaBucket})
	if err != nil {
		t.Fatalf("create media bucket: %v", err)
	}
	linker := &medialink.Linker{BaseURL: h.url, Keys: keys, TTL: 24 * time.Hour, Now: func() time.Time { return mediaIssued }}
	return &mediaFixture{h: h, objects: objects, linker: linker, now: now}
}

// put stores an object as ingest does: content type and account recorded.
func (f *mediaFixture) put(t *testing.T, mediaID, accountID, contentType string, data []byte) {
	t.Helper()
	meta := jetstream.ObjectMeta{
		Name:     mediaID,
		Headers:  nats.Header{"Content-Type": []string{contentType}},
		Metadata: map[string]string{"account_id": accountID},
	}
	if _, err := f.objects.Put(t.Context(), meta, bytes.NewReader(data)); err != nil {
		t.Fatalf("put media: %v", err)
	}
}

func (f *mediaFixture) link(t *testing.T, mediaID, accountID string) string {
	t.Helper()
	link, err := f.linker.Link(mediaID, accountID)
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	return link
}

type download struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, rawURL string, headers ...string) download {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return download{status: resp.StatusCode, header: resp.Header, body: body}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMediaLinkDownloadsThenExpires is the contract: the link a
// media webhook carries downloads the exact bytes, with ranges, until it
// expires; after that, and when altered, it is refused.
func TestMediaLinkDownloadsThenExpires(t *testing.T) {
	t.Parallel()
	f := newMediaFixture(t)
	// Larger than one Object Store chunk (128 KiB), so reads span chunks.
	data := randomBytes(t, 300_000)
	f.put(t, "vm-1", "acct1", "audio/mpeg", data)
	link := f.link(t, "vm-1", "acct1")

	got := get(t, link)
	if got.status != http.StatusOK || !bytes.Equal(got.body, data) {
		t.Fatalf("download: status %d, %d bytes (want 200, %d exact bytes)", got.status, len(got.body), len(data))
	}
	if ct := got.header.Get("Content-Type"); ct != "audio/mpeg" {
		t.Errorf("Content-Type = %q, want audio/mpeg", ct)
	}
	if got.header.Get("X-Content-Type-Options") != "nosniff" || got.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("headers = %v", got.header)
	}

	ranges := []struct {
		header       string
		from, to     int
		contentRange string
	}{
		{"bytes=0-9", 0, 10, "bytes 0-9/300000"},
		{"bytes=200000-200009", 200_000, 200_010, "bytes 200000-200009/300000"},
		{"bytes=-5", 299_995, 300_000, "bytes 299995-299999/300000"},
		{"bytes=299990-", 299_990, 300_000, "bytes 299990-299999/300000"},
		{"bytes=299990-999999", 299_990, 300_000, "bytes 299990-299999/300000"},
	}
	for _, r := range ranges {
		got := get(t, link, "Range", r.header)
		if got.status != http.StatusPartialContent || !bytes.Equal(got.body, data[r.from:r.to]) || got.header.Get("Content-Range") != r.contentRange {
			t.Errorf("Range %s: status %d, Content-Range %q, %d bytes", r.header, got.status, got.header.Get("Content-Range"), len(got.body))
		}
	}
	if got := get(t, link, "Range", "bytes=300000-"); got.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: status %d, want 416", got.status)
	}
	// Two ranges: a multipart answer that holds both slices.
	multi := get(t, link, "Range", "bytes=0-3,100000-100003")
	if multi.status != http.StatusPartialContent || !bytes.Contains(multi.body, data[0:4]) || !bytes.Contains(multi.body, data[100_000:100_004]) {
		t.Errorf("multi-range: status %d, %d bytes", multi.status, len(multi.body))
	}

	// One second before expiry it still works; one second after, 403.
	f.now.Store(mediaIssued.Add(24*time.Hour - time.Second).Unix())
	if got := get(t, link); got.status != http.StatusOK {
		t.Fatalf("just before expiry: status %d", got.status)
	}
	f.now.Store(mediaIssued.Add(24*time.Hour + time.Second).Unix())
	if got := get(t, link); got.status != http.StatusForbidden || bytes.Contains(got.body, data[:16]) {
		t.Fatalf("after expiry: status %d, want 403", got.status)
	}
}

func TestMediaLinkRefusesAlteredAndForeignLinks(t *testing.T) {
	t.Parallel()
	f := newMediaFixture(t)
	f.put(t, "vm-1", "acct1", "audio/mpeg", []byte("voicemail one"))
	f.put(t, "vm-2", "acct1", "audio/mpeg", []byte("voicemail two"))
	f.put(t, "vm-b", "acct2", "audio/mpeg", []byte("another tenant"))
	link := f.link(t, "vm-1", "acct1")

	alter := func(mutate func(u *url.URL, q url.Values)) string {
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		mutate(u, q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	sig := func(q url.Values) string { return q.Get("signature") }
	cases := map[string]string{
		"other media id": alter(func(u *url.URL, _ url.Values) { u.Path = "/v1/media/vm-2" }),
		"other account":  alter(func(_ *url.URL, q url.Values) { q.Set("account", "acct2") }),
		"later expiry":   alter(func(_ *url.URL, q url.Values) { q.Set("expires", "9999999999") }),
		"altered mac": alter(func(_ *url.URL, q url.Values) {
			s := sig(q)
			q.Set("signature", s[:len(s)-2]+"AA")
		}),
		"unknown key id": alter(func(_ *url.URL, q url.Values) { q.Set("signature", "k1999"+strings.TrimPrefix(sig(q), "k2024")) }),
		"no signature":   alter(func(_ *url.URL, q url.Values) { q.Del("signature") }),
		"garbage expiry": alter(func(_ *url.URL, q url.Values) { q.Set("expires", "tomorrow") }),
		// Other spellings of the genuine values: only the signed text counts.
		"expiry with a plus sign":   alter(func(_ *url.URL, q url.Values) { q.Set("expires", "+"+q.Get("expires")) }),
		"expiry with leading zeros": alter(func(_ *url.URL, q url.Values) { q.Set("expires", "00"+q.Get("expires")) }),
		"mac with altered spare bits": alter(func(_ *url.URL, q url.Values) {
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			s := sig(q)
			q.Set("signature", s[:len(s)-1]+string(alphabet[strings.IndexByte(alphabet, s[len(s)-1])^1]))
		}),
		// A genuine link for acct2's media id, re-pointed at acct1's media.
		"link of another tenant": strings.Replace(f.link(t, "vm-b", "acct2"), "/vm-b?", "/vm-1?", 1),
	}
	for name, rawURL := range cases {
		if got := get(t, rawURL); got.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403 (%s)", name, got.status, got.body)
		}
	}
	if got := get(t, link); got.status != http.StatusOK || string(got.body) != "voicemail one" {
		t.Fatalf("the genuine link stopped working: %d %s", got.status, got.body)
	}
}

func TestMediaLinkToMissingOrDeletedObjectIs404(t *testing.T) {
	t.Parallel()
	f := newMediaFixture(t)
	f.put(t, "vm-1", "acct1", "audio/mpeg", []byte("soon gone"))
	link := f.link(t, "vm-1", "acct1")
	if got := get(t, link); got.status != http.StatusOK {
		t.Fatalf("before delete: status %d", got.status)
	}
	if err := f.objects.Delete(t.Context(), "vm-1"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := get(t, link); got.status != http.StatusNotFound {
		t.Errorf("deleted object: status %d, want 404", got.status)
	}
	if got := get(t, f.link(t, "never-stored", "acct1")); got.status != http.StatusNotFound {
		t.Errorf("missing object: status %d, want 404", got.status)
	}
}

// TestMediaLinkNeverServesActiveContent: whatever content type a PBX
// recorded, only audio and video types are served as such.
func TestMediaLinkNeverServesActiveContent(t *testing.T) {
	t.Parallel()
	f := newMediaFixture(t)
	f.put(t, "page", "acct1", "text/html", []byte("<script>alert(1)</script>"))
	f.put(t, "wav", "acct1", "audio/wav; rate=8000", []byte("RIFF"))
	if got := get(t, f.link(t, "page", "acct1")); got.status != http.StatusOK || got.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("text/html object served as %q (status %d)", got.header.Get("Content-Type"), got.status)
	}
	if got := get(t, f.link(t, "wav", "acct1")); got.header.Get("Content-Type") != "audio/wav; rate=8000" {
		t.Errorf("audio object served as %q", got.header.Get("Content-Type"))
	}
}

// TestMediaLinkRotatedKeys: after a rotation the API verifies with the new
// and the old key, so links issued before the rotation keep working; an API
// without the old key refuses them.
func TestMediaLinkRotatedKeys(t *testing.T) {
	t.Parallel()
	old, err := medialink.ParseKeys("k2024:" + strings.Repeat("n", medialink.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := medialink.ParseKeys("k2025:" + strings.Repeat("r", medialink.MinSecretBytes) + ",k2024:" + strings.Repeat("n", medialink.MinSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	f := newMediaFixture(t, rotated...)
	f.put(t, "vm-1", "acct1", "audio/mpeg", []byte("kept"))
	f.linker.Keys = old
	if got := get(t, f.link(t, "vm-1", "acct1")); got.status != http.StatusOK {
		t.Fatalf("link signed before the rotation: status %d, want 200", got.status)
	}
	f.linker.Keys = rotated
	if got := get(t, f.link(t, "vm-1", "acct1")); got.status != http.StatusOK {
		t.Fatalf("link signed after the rotation: status %d, want 200", got.status)
	}

	retired := newMediaFixture(t, rotated[0])
	retired.put(t, "vm-1", "acct1", "audio/mpeg", []byte("kept"))
	retired.linker.Keys = old
	if got := get(t, retired.link(t, "vm-1", "acct1")); got.status != http.StatusForbidden {
		t.Fatalf("link signed with a retired key: status %d, want 403", got.status)
	}
}

// TestMediaLinkServesOnlyTheOwnersObject is the reported leak at the
// download: a genuine link for account A naming account B's recording, or
// a file a PBX put into the bucket over NATS (owned by no account), served
// the file. Now both answer exactly what a missing object answers, so the
// link's holder learns neither that the file exists nor its size.
func TestMediaLinkServesOnlyTheOwnersObject(t *testing.T) {
	t.Parallel()
	f := newMediaFixture(t)
	f.put(t, "vm-b", "acct2", "audio/mpeg", []byte("account two's voicemail"))
	if _, err := f.objects.PutBytes(t.Context(), "pbx-put", []byte("put over NATS, nobody's")); err != nil {
		t.Fatal(err)
	}
	missing := get(t, f.link(t, "never-stored", "acct1"))
	if missing.status != http.StatusNotFound {
		t.Fatalf("missing object: status %d, want 404", missing.status)
	}
	for name, link := range map[string]string{
		"acct1's link to acct2's object":  f.link(t, "vm-b", "acct1"),
		"acct1's link to nobody's object": f.link(t, "pbx-put", "acct1"),
		"acct2's link to nobody's object": f.link(t, "pbx-put", "acct2"),
	} {
		got := get(t, link)
		if got.status != missing.status || !bytes.Equal(withoutRequestID(t, got.body), withoutRequestID(t, missing.body)) ||
			got.header.Get("Content-Length") != missing.header.Get("Content-Length") || got.header.Get("ETag") != "" {
			t.Errorf("%s: %d %v %s; want exactly the missing object's %d %s", name, got.status, got.header, got.body, missing.status, missing.body)
		}
	}
	if got := get(t, f.link(t, "vm-b", "acct2")); got.status != http.StatusOK || string(got.body) != "account two's voicemail" {
		t.Fatalf("the owner's link: %d %s", got.status, got.body)
	}
}

// withoutRequestID is an error body without its per-request id.
func withoutRequestID(t *testing.T, body []byte) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return body
	}
	delete(doc, "request_id")
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
