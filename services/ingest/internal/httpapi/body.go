package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Defaults of the body limits, used when Limits leaves them zero.
const (
	// DefaultBodyIdleTimeout is how long a request body may send nothing
	// before it is answered 408.
	DefaultBodyIdleTimeout = 20 * time.Second
	// DefaultMinBodyRate (bytes per second) sets the whole body's deadline:
	// its size at this rate, plus the idle timeout. A 100 MiB upload gets
	// about 27 minutes, a full 6.4 MB batch about two.
	DefaultMinBodyRate = 64 << 10
	// DefaultMaxInflightBytes bounds the request bytes ingest holds in
	// memory at once, across requests.
	DefaultMaxInflightBytes = 32 << 20
)

// busyRetryAfter is what a caller refused for want of memory is told to
// wait: requests in flight finish within seconds.
const busyRetryAfter = 2 * time.Second

// firstBufferBytes is the first buffer for a body of undeclared length; it
// doubles as the body grows.
const firstBufferBytes = 16 << 10

// requestBody is a request body read under ingest's bounds: at most
// maxBytes (413 beyond), nothing for longer than the idle timeout and the
// whole of it before a deadline set by its size at the minimum rate (408
// otherwise). It remembers the first read failure so that an error seen
// through another reader (multipart, the object store) is still answered
// for what it was.
type requestBody struct {
	r        io.Reader
	rc       *http.ResponseController
	idle     time.Duration
	deadline time.Time
	// allowed, size and rate explain the deadline in a 408's message.
	allowed time.Duration
	size    int64
	rate    int64
	err     error
}

// boundBody wraps r.Body for a route that accepts at most maxBytes. The
// server's fixed read and write timeouts give way to these: the write
// deadline moves with the body's, so the answer can still be sent.
func (s *Server) boundBody(w http.ResponseWriter, r *http.Request, maxBytes int64) *requestBody {
	size := maxBytes
	if r.ContentLength >= 0 && r.ContentLength < maxBytes {
		size = r.ContentLength
	}
	b := &requestBody{
		r:    http.MaxBytesReader(w, r.Body, maxBytes),
		rc:   http.NewResponseController(w),
		idle: s.limits.BodyIdleTimeout,
		rate: s.limits.MinBodyRate,
		size: size,
	}
	b.allowed = b.idle + time.Duration(float64(size)/float64(b.rate)*float64(time.Second))
	b.deadline = time.Now().Add(b.allowed)
	// An answer is due within the server's usual write window after the
	// body. A writer that cannot move its deadline (not a net/http
	// connection) keeps the server's.
	_ = b.rc.SetWriteDeadline(b.deadline.Add(writeWindow(s.limits)))
	return b
}

// writeWindow is how long ingest may take to answer once a request is
// read: its own work plus JetStream's acknowledgement.
func writeWindow(l Limits) time.Duration { return 30*time.Second + 2*l.PublishTimeout }

func (b *requestBody) Read(p []byte) (int, error) {
	next := time.Now().Add(b.idle)
	if next.After(b.deadline) {
		next = b.deadline
	}
	_ = b.rc.SetReadDeadline(next)
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && b.err == nil {
		b.err = err
		if errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(b.deadline) {
			b.err = errBodyTooSlow
		}
	}
	return n, err
}

// errBodyTooSlow marks a body that kept arriving but missed its deadline.
var errBodyTooSlow = errors.New("request body missed its deadline")

// failure is the answer to the body's read failure, or nil when reading
// did not fail (a broken form, not a broken connection). Its messages
// never quote the network error, which names internal addresses.
func (b *requestBody) failure() *apiError {
	var tooLarge *http.MaxBytesError
	switch {
	case b.err == nil:
		return nil
	case errors.As(b.err, &tooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, message: fmt.Sprintf("the request body exceeds %d bytes", tooLarge.Limit)}
	case errors.Is(b.err, errBodyTooSlow):
		return &apiError{status: http.StatusRequestTimeout, message: fmt.Sprintf(
			"the request body did not arrive within %s; %d bytes are allowed to take at least %d bytes per second", b.allowed.Round(time.Second), b.size, b.rate)}
	case errors.Is(b.err, os.ErrDeadlineExceeded):
		return &apiError{status: http.StatusRequestTimeout, message: fmt.Sprintf("nothing of the request body arrived for %s; send it again", b.idle)}
	default:
		return errBadRequest("the request body broke off before its end", nil)
	}
}

// inflightBytes bounds the request bytes held in memory at once across
// requests, so concurrent large batches are refused 503 instead of growing
// ingest until it is killed.
type inflightBytes struct {
	sem  *semaphore.Weighted
	max  int64
	held atomic.Int64
}

func newInflightBytes(max int64) *inflightBytes {
	return &inflightBytes{sem: semaphore.NewWeighted(max), max: max}
}

// reservation is one request's share of inflightBytes; release it when the
// request is answered.
type reservation struct {
	pool *inflightBytes
	n    int64
}

func (p *inflightBytes) reserve() *reservation { return &reservation{pool: p} }

// growTo makes the share n bytes, or answers 503 when that many are not
// free; it never waits.
func (r *reservation) growTo(n int64) error {
	if n <= r.n {
		return nil
	}
	if !r.pool.sem.TryAcquire(n - r.n) {
		return &apiError{status: http.StatusServiceUnavailable, retryAfter: busyRetryAfter,
			message: fmt.Sprintf("ingest holds as many request bytes as it may (%d); retry shortly", r.pool.max)}
	}
	r.pool.held.Add(n - r.n)
	r.n = n
	return nil
}

func (r *reservation) release() {
	if r.n > 0 {
		r.pool.held.Add(-r.n)
		r.pool.sem.Release(r.n)
		r.n = 0
	}
}

// readAll reads body (at most maxBytes) into memory, each buffer it grows
// to paid for from res first: a declared length is reserved whole before
// reading, an undeclared one as it arrives.
func readAll(body *requestBody, declared, maxBytes int64, res *reservation) ([]byte, error) {
	want := min(firstBufferBytes, maxBytes+1)
	if declared >= 0 {
		// One byte more, so the end is read without growing.
		want = min(declared, maxBytes) + 1
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			if want <= int64(cap(buf)) {
				// Unreachable: the body's reader stops at maxBytes.
				return nil, &apiError{status: http.StatusRequestEntityTooLarge, message: fmt.Sprintf("the request body exceeds %d bytes", maxBytes)}
			}
			if err := res.growTo(want); err != nil {
				return nil, err
			}
			buf = append(make([]byte, 0, want), buf...)
			want = min(2*want, maxBytes+1)
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
