package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMediaRangesAreBoundedAndErrorsAreAPIErrors: a Range header costs at
// most one read of the object and a bounded number of parts; what cannot
// be served as asked is a 416 in the API's error format, with the
// Content-Range RFC 9110 asks for.
func TestMediaRangesAreBoundedAndErrorsAreAPIErrors(t *testing.T) {
	t.Parallel()
	f := newMediaFixture(t)
	data := randomBytes(t, 300_000)
	f.put(t, "vm-1", "acct1", "audio/mpeg", data)
	link := f.link(t, "vm-1", "acct1")

	many := func(n int) string {
		specs := make([]string, n)
		for i := range specs {
			specs[i] = fmt.Sprintf("%d-%d", i*2, i*2)
		}
		return "bytes=" + strings.Join(specs, ",")
	}
	for name, header := range map[string]string{
		"600 ranges (the issue's request)": many(600),
		"17 separate ranges":               many(17),
		"a suffix of zero bytes":           "bytes=-0",
		"a range past the end":             "bytes=300000-",
		"only unsatisfiable ranges":        "bytes=-0,400000-500000",
		"not a range":                      "bytes=abc",
		"last before first":                "bytes=10-5",
		"no range at all":                  "bytes=",
	} {
		start := time.Now()
		got := get(t, link, "Range", header)
		if got.status != http.StatusRequestedRangeNotSatisfiable || got.header.Get("Content-Range") != "bytes */300000" {
			t.Errorf("%s: status %d, Content-Range %q; want 416 and bytes */300000", name, got.status, got.header.Get("Content-Range"))
		}
		expectAPIError(t, name, got, http.StatusRequestedRangeNotSatisfiable)
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("%s: took %s", name, elapsed)
		}
	}

	// Sixteen separate ranges are served, in one multipart answer.
	if parts := multipartRanges(t, get(t, link, "Range", many(16))); len(parts) != 16 {
		t.Errorf("16 ranges: %d parts, want 16", len(parts))
	}
	// Overlapping, touching and unordered ranges are merged and sorted.
	parts := multipartRanges(t, get(t, link, "Range", "bytes=100000-100009,0-9,5-19,20-29"))
	if len(parts) != 2 || parts["bytes 0-29/300000"] == nil || parts["bytes 100000-100009/300000"] == nil {
		t.Fatalf("merged ranges: parts %v", keys(parts))
	}
	if !bytes.Equal(parts["bytes 0-29/300000"], data[:30]) || !bytes.Equal(parts["bytes 100000-100009/300000"], data[100_000:100_010]) {
		t.Fatal("merged ranges: wrong bytes")
	}
	single := get(t, link, "Range", "bytes=0-9, 10-19")
	if single.status != http.StatusPartialContent || single.header.Get("Content-Range") != "bytes 0-19/300000" || !bytes.Equal(single.body, data[:20]) {
		t.Errorf("touching ranges: status %d, Content-Range %q", single.status, single.header.Get("Content-Range"))
	}
	// Another unit is ignored, as RFC 9110 says: the whole file.
	if whole := get(t, link, "Range", "items=0-5"); whole.status != http.StatusOK || !bytes.Equal(whole.body, data) {
		t.Errorf("unknown range unit: status %d, %d bytes", whole.status, len(whole.body))
	}
	// net/http's own precondition answer comes out in the API's format.
	failed := get(t, link, "If-Match", `"not-the-etag"`)
	expectAPIError(t, "If-Match mismatch", failed, http.StatusPreconditionFailed)
}

// expectAPIError checks an answer is the API's error envelope for status.
func expectAPIError(t *testing.T, name string, got download, status int) {
	t.Helper()
	var body map[string]any
	if got.status != status || json.Unmarshal(got.body, &body) != nil || body["status"] != "error" ||
		body["error"] != fmt.Sprint(status) || body["message"] == "" || !strings.HasPrefix(got.header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: status %d, Content-Type %q, body %.200s; want the API's %d error", name, got.status, got.header.Get("Content-Type"), got.body, status)
	}
}

// multipartRanges reads a 206 multipart/byteranges answer: each part's
// bytes by its Content-Range.
func multipartRanges(t *testing.T, got download) map[string][]byte {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
	if got.status != http.StatusPartialContent || err != nil || mediaType != "multipart/byteranges" {
		t.Fatalf("status %d, Content-Type %q; want a 206 multipart/byteranges", got.status, got.header.Get("Content-Type"))
	}
	parts := map[string][]byte{}
	r := multipart.NewReader(bytes.NewReader(got.body), params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart part: %v", err)
		}
		parts[p.Header.Get("Content-Range")] = b
	}
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
