package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// countingObjects counts how often an object is opened for reading.
type countingObjects struct {
	jetstream.ObjectStore
	opens atomic.Int32
}

func (c *countingObjects) Get(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) (jetstream.ObjectResult, error) {
	c.opens.Add(1)
	return c.ObjectStore.Get(ctx, name, opts...)
}

// TestRangedMediaReadsTheObjectOnce: however many (checked, sorted) ranges
// are served, the object is opened and read front to back once; only a
// backward seek would open it again.
func TestRangedMediaReadsTheObjectOnce(t *testing.T) {
	t.Parallel()
	_, _, js := testenv.JetStream(t)
	objects, err := js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: "media-reads"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300_000)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if _, err := objects.PutBytes(t.Context(), "vm", data); err != nil {
		t.Fatal(err)
	}
	counted := &countingObjects{ObjectStore: objects}
	ranges, err := parseMediaRanges("bytes=200000-200009,0-9,100000-100009,150000-", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/media/vm", nil)
	req.Header.Set("Range", rangeHeader(ranges))
	w := httptest.NewRecorder()
	// As downloadMedia does; without it ServeContent would read the start
	// of the object to sniff a type.
	w.Header().Set("Content-Type", "audio/mpeg")
	body := &objectReadSeeker{ctx: t.Context(), store: counted, name: "vm", size: int64(len(data))}
	defer body.Close()
	http.ServeContent(w, req, "", time.Time{}, body)
	if w.Code != http.StatusPartialContent || !bytes.Contains(w.Body.Bytes(), data[200_000:200_010]) || !bytes.Contains(w.Body.Bytes(), data[150_000:]) {
		t.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
	}
	if n := counted.opens.Load(); n != 1 {
		t.Fatalf("the object was opened %d times for one request, want 1", n)
	}

	// A backward seek reopens; that is the only reason to.
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(body, head); err != nil || !bytes.Equal(head, data[:10]) || counted.opens.Load() != 2 {
		t.Fatalf("after a backward seek: %v, opens %d", err, counted.opens.Load())
	}
}

// FuzzParseMediaRanges: whatever the header, the ranges served are within
// the object, sorted, apart from each other, and at most maxMediaRanges.
func FuzzParseMediaRanges(f *testing.F) {
	for _, seed := range []string{"bytes=0-9", "bytes=-0", "bytes=-5,0-0,3-", "bytes=10-5", "items=1-2", "bytes=0-0,2-2,4-4", "bytes= 1 - 2 ,, 3-", "bytes=99999999999999999999-"} {
		f.Add(seed, int64(300_000))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		ranges, err := parseMediaRanges(header, size)
		if err != nil {
			return
		}
		if len(ranges) > maxMediaRanges {
			t.Fatalf("%q: %d ranges", header, len(ranges))
		}
		for i, r := range ranges {
			if r.first < 0 || r.last < r.first || r.last >= size || (i > 0 && r.first <= ranges[i-1].last+1) {
				t.Fatalf("%q over %d bytes: ranges %v", header, size, ranges)
			}
		}
	})
}
