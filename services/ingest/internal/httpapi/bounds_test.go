package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/httperror/httperrortest"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// serveIntake runs s as ingest does, with Serve on a real listener, so the
// http.Server's own limits and timeouts apply; it returns the base URL.
func serveIntake(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// checkEnvelope fails unless raw is the error envelope for status.
func checkEnvelope(t *testing.T, resp *http.Response, raw []byte, status int) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json: %s", ct, raw)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("answer %d is not JSON: %v: %q", status, err, raw)
	}
	if _, isMap := body["data"].(map[string]any); body["status"] != "error" || body["error"] != fmt.Sprint(status) || body["message"] == "" || !isMap {
		t.Errorf("answer %d is not the error envelope: %v", status, body)
	}
	return body
}

func TestProtocolErrorsAreInTheEnvelope(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	base := serveIntake(t, newIntake(t, nc, js, testLimits))

	resp, raw := httperrortest.Exchange(t, base, "POST /v1/accounts/acct1/events HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", maxHeaderBytes+8<<10)+"\r\n\r\n")
	checkEnvelope(t, resp, raw, http.StatusRequestHeaderFieldsTooLarge)

	resp, raw = httperrortest.Exchange(t, base, "POST /v1/accounts/acct1/events HTTP/1.1\r\n\r\n")
	checkEnvelope(t, resp, raw, http.StatusBadRequest)
}

// mediaStreamBytes is what the media bucket holds: the bytes of its
// underlying stream, chunks and metadata alike, listed or not.
func mediaStreamBytes(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(t.Context(), "OBJ_"+bus.MediaBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Bytes
}

const testBoundary = "bounds-test-boundary"

// uploadHead is a form's fields and the head of its file part; the file's
// bytes and uploadTail follow.
const uploadHead = "--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nvoicemail\r\n" +
	"--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"vm.wav\"\r\nContent-Type: audio/wav\r\n\r\n"

const uploadTail = "\r\n--" + testBoundary + "--\r\n"

// uploadedInfo looks up the stored object of an accepted upload's answer.
func uploadedInfo(t *testing.T, js jetstream.JetStream, raw []byte) (*jetstream.ObjectInfo, error) {
	t.Helper()
	var body uploadedBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(t.Context(), bus.MediaBucket)
	if err != nil {
		t.Fatal(err)
	}
	return obs.GetInfo(t.Context(), body.Data.MediaID)
}

// startUpload sends an upload whose body is what the test writes on the
// returned pipe; the answer (or the client's error) arrives on the channel.
func startUpload(t *testing.T, ctx context.Context, baseURL string, contentLength int64) (*io.PipeWriter, <-chan answerOrError) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/accounts/acct1/media", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+testBoundary)
	req.Header.Set("X-Auth-Token", testAdminToken)
	req.ContentLength = contentLength
	// A client of its own: its connection closes when ctx is cancelled.
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	done := make(chan answerOrError, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- answerOrError{err: err}
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		done <- answerOrError{resp: resp, raw: raw}
	}()
	return pw, done
}

type answerOrError struct {
	resp *http.Response
	raw  []byte
	err  error
}

// An upload the client abandons mid-file leaves nothing in the bucket: the
// chunks already stored are purged although the request's context is gone.
func TestAbortedUploadLeavesNoChunks(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	base := serveIntake(t, newIntake(t, nc, js, testLimits))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pw, done := startUpload(t, ctx, base, -1)
	go func() {
		_, _ = io.WriteString(pw, uploadHead)
		_, _ = pw.Write(bytes.Repeat([]byte{0x5a}, 200<<10)) // more than one chunk, under the limit
	}()
	testenv.Eventually(t, 10*time.Second, "the upload's first chunks to reach the bucket", func() (bool, string) {
		n := mediaStreamBytes(t, js)
		return n >= 64<<10, fmt.Sprintf("the bucket holds %d bytes", n)
	})
	cancel() // the client gives up: its connection closes mid-body
	_ = pw.CloseWithError(errors.New("client gone"))
	if a := <-done; a.err == nil {
		t.Fatalf("the aborted upload was answered %d %s", a.resp.StatusCode, a.raw)
	}
	testenv.Eventually(t, 10*time.Second, "the media bucket to empty after the aborted upload", func() (bool, string) {
		n := mediaStreamBytes(t, js)
		if n == 0 {
			return true, ""
		}
		var left strings.Builder
		for _, m := range testenv.StoredMsgs(t, js, "OBJ_"+bus.MediaBucket) {
			fmt.Fprintf(&left, "\nleft: %s %v %q", m.Subject, m.Header, m.Data)
		}
		return false, fmt.Sprintf("the bucket holds %d bytes%s", n, left.String())
	})
	if names := objectNames(t, js); len(names) != 0 {
		t.Errorf("objects %v remain", names)
	}
}

// A file is stored in full 128 KiB chunks, not one chunk per short read of
// the request body.
func TestUploadIsStoredInFullChunks(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	base := serveIntake(t, newIntake(t, nc, js, testLimits))

	const size = 200_000 // two chunks: 131,072 + 68,928
	pw, done := startUpload(t, t.Context(), base, -1)
	go func() {
		_, _ = io.WriteString(pw, uploadHead)
		// Written in small pieces, as a slow link delivers it.
		piece := bytes.Repeat([]byte{0x33}, 1000)
		for range size / len(piece) {
			_, _ = pw.Write(piece)
		}
		_, _ = io.WriteString(pw, uploadTail)
		_ = pw.Close()
	}()
	a := <-done
	if a.err != nil || a.resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %v %v %s", a.err, a.resp, a.raw)
	}
	info, err := uploadedInfo(t, js, a.raw)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.Chunks != 2 {
		t.Errorf("stored %d bytes in %d chunks, want %d bytes in 2 chunks", info.Size, info.Chunks, size)
	}
}

// leaksAddress reports whether a message names a network address or error.
func leaksAddress(message string) bool {
	return strings.Contains(message, "127.0.0.1") || strings.Contains(message, "tcp") || strings.Contains(message, "i/o")
}

// An upload that stops sending is answered 408 once the idle timeout
// passes, in the envelope and without the connection's addresses, and its
// chunks are purged.
func TestStalledUploadIs408(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	limits := testLimits
	limits.BodyIdleTimeout = 500 * time.Millisecond
	base := serveIntake(t, newIntake(t, nc, js, limits))

	pw, done := startUpload(t, t.Context(), base, -1)
	defer pw.Close()
	go func() {
		_, _ = io.WriteString(pw, uploadHead)
		_, _ = pw.Write(bytes.Repeat([]byte{1}, 150<<10)) // one chunk stored, then silence
	}()
	var a answerOrError
	select {
	case a = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stalled upload was not answered")
	}
	if a.err != nil {
		t.Fatalf("stalled upload: %v", a.err)
	}
	body := checkEnvelope(t, a.resp, a.raw, http.StatusRequestTimeout)
	if msg, _ := body["message"].(string); leaksAddress(msg) || !strings.Contains(msg, "500ms") {
		t.Errorf("message %q: want the idle timeout and no network detail", msg)
	}
	testenv.Eventually(t, 10*time.Second, "the media bucket to empty after the stalled upload", func() (bool, string) {
		n := mediaStreamBytes(t, js)
		return n == 0, fmt.Sprintf("the bucket holds %d bytes", n)
	})
}

// sendSteadily writes n pieces of piece, one every interval, as a slow
// link delivers a body.
func sendSteadily(pw *io.PipeWriter, piece []byte, n int, interval time.Duration) {
	for range n {
		if _, err := pw.Write(piece); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

// A slow but steady upload that takes longer than the server's fixed
// read timeout (30 s) is stored: only silence, or a rate under the minimum,
// ends a body.
func TestSlowSteadyUploadSucceeds(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	limits := testLimits
	limits.BodyIdleTimeout = 5 * time.Second
	limits.MinBodyRate = 2 << 10
	base := serveIntake(t, newIntake(t, nc, js, limits))

	const pieces, pieceBytes = 100, 1500 // 150,000 bytes over about 33 s
	size := int64(len(uploadHead) + pieces*pieceBytes + len(uploadTail))
	pw, done := startUpload(t, t.Context(), base, size)
	go func() {
		_, _ = io.WriteString(pw, uploadHead)
		sendSteadily(pw, bytes.Repeat([]byte{2}, pieceBytes), pieces, 330*time.Millisecond)
		_, _ = io.WriteString(pw, uploadTail)
		_ = pw.Close()
	}()
	a := <-done
	if a.err != nil || a.resp.StatusCode != http.StatusAccepted {
		t.Fatalf("slow upload: %v %v %s", a.err, a.resp, a.raw)
	}
	if info, err := uploadedInfo(t, js, a.raw); err != nil || info.Size != pieces*pieceBytes {
		t.Errorf("stored object %+v: %v", info, err)
	}
}

// A body that keeps arriving, but slower than the minimum rate for its
// declared size, is answered 408 at its deadline.
func TestBodyPastItsDeadlineIs408(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	limits := Limits{MaxEventBytes: 64 << 10, MaxBatchEvents: 10, PublishTimeout: 5 * time.Second,
		BodyIdleTimeout: 2 * time.Second, MinBodyRate: 50_000}
	base := serveIntake(t, newIntake(t, nc, js, limits))

	const size = 200_000 // a 6 s deadline (2 s + 200,000 B / 50,000 B/s); sent at 20,000 B/s
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/accounts/acct1/events", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", testAdminToken)
	req.ContentLength = size
	go func() {
		_, _ = io.WriteString(pw, "[")
		sendSteadily(pw, bytes.Repeat([]byte(" "), 1000), size/1000, 50*time.Millisecond)
	}()
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := checkEnvelope(t, resp, raw, http.StatusRequestTimeout)
	if msg, _ := body["message"].(string); leaksAddress(msg) || !strings.Contains(msg, "did not arrive within 6s") {
		t.Errorf("message %q: want the body's deadline and no network detail", msg)
	}
}

// paddedBatch is a batch of n valid events padded with whitespace to size
// bytes.
func paddedBatch(prefix string, n, size int) []byte {
	var b bytes.Buffer
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"event":"channel_create","id":"%s-%d","call_id":"c1","direction":"inbound","from":"100","to":"200"}`, prefix, i)
	}
	b.WriteString(strings.Repeat(" ", size-b.Len()-1))
	b.WriteString("]")
	return b.Bytes()
}

// postBatch sends body, declared or (declared false) chunked.
func postBatch(ctx context.Context, baseURL string, body io.Reader, length int64) answerOrError {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/v1/accounts/acct1/events", body)
	if err != nil {
		return answerOrError{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", testAdminToken)
	req.ContentLength = length
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		return answerOrError{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return answerOrError{resp: resp, raw: raw}
}

// While batches in flight hold what ingest may hold, another large one is
// refused 503 with Retry-After; a request that fits is still served, and so
// is the refused one once the others are done.
func TestInflightBytesAreBounded(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	const batchBytes = 600_000
	limits := Limits{MaxEventBytes: 64 << 10, MaxBatchEvents: 10, PublishTimeout: 5 * time.Second,
		MaxInflightBytes: 3*(batchBytes+1) + 8<<10}
	s := newIntake(t, nc, js, limits)
	base := serveIntake(t, s)

	// Three batches send all but their last byte and wait.
	var writers []*io.PipeWriter
	var answers []chan answerOrError
	for i := range 3 {
		body := paddedBatch(fmt.Sprintf("held%d", i), 5, batchBytes)
		pr, pw := io.Pipe()
		done := make(chan answerOrError, 1)
		go func() { done <- postBatch(t.Context(), base, pr, batchBytes) }()
		go func() { _, _ = pw.Write(body[:len(body)-1]) }()
		writers, answers = append(writers, pw), append(answers, done)
	}
	defer func() {
		for _, pw := range writers {
			_ = pw.Close()
		}
	}()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("ingest to hold the three batches' %d bytes", 3*(batchBytes+1)), func() (bool, string) {
		held := s.inflight.held.Load()
		return held == 3*(batchBytes+1), fmt.Sprintf("ingest holds %d bytes", held)
	})

	fourth := paddedBatch("fourth", 5, batchBytes)
	a := postBatch(t.Context(), base, bytes.NewReader(fourth), batchBytes)
	if a.err != nil {
		t.Fatal(a.err)
	}
	checkEnvelope(t, a.resp, a.raw, http.StatusServiceUnavailable)
	if ra := a.resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2", ra)
	}
	small := `{"event":"channel_create","id":"small-1","call_id":"c2","direction":"inbound","from":"1","to":"2"}`
	if a := postBatch(t.Context(), base, strings.NewReader(small), int64(len(small))); a.err != nil || a.resp.StatusCode != http.StatusAccepted {
		t.Errorf("a small event while full batches are held: %v %v %s, want 202", a.err, a.resp, a.raw)
	}

	for i, pw := range writers {
		_, _ = pw.Write([]byte("]"))
		if a := <-answers[i]; a.err != nil || a.resp.StatusCode != http.StatusAccepted {
			t.Errorf("held batch %d: %v %v %s", i, a.err, a.resp, a.raw)
		}
	}
	testenv.Eventually(t, 10*time.Second, "ingest to hold nothing once every request was answered", func() (bool, string) {
		held := s.inflight.held.Load()
		return held == 0, fmt.Sprintf("ingest holds %d bytes", held)
	})
	if a := postBatch(t.Context(), base, bytes.NewReader(fourth), batchBytes); a.err != nil || a.resp.StatusCode != http.StatusAccepted {
		t.Errorf("the refused batch, resent: %v %v %s", a.err, a.resp, a.raw)
	}
}

// Many large batches at once, declared and chunked: each is stored or
// refused 503 with Retry-After, what ingest holds never exceeds its bound,
// and it all returns once they are answered.
func TestConcurrentLargeBatchesStayWithinBound(t *testing.T) {
	t.Parallel()
	_, nc, js := testenv.JetStream(t)
	const batchBytes, batches = 600_000, 20
	limits := Limits{MaxEventBytes: 64 << 10, MaxBatchEvents: 10, PublishTimeout: 5 * time.Second,
		MaxInflightBytes: 3 * (batchBytes + 1)}
	s := newIntake(t, nc, js, limits)
	base := serveIntake(t, s)

	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var most int64
		for {
			most = max(most, s.inflight.held.Load())
			select {
			case <-stop:
				peak <- most
				return
			default:
				time.Sleep(time.Millisecond)
			}
		}
	}()
	results := make(chan answerOrError, batches)
	for i := range batches {
		body := paddedBatch(fmt.Sprintf("many%d", i), 5, batchBytes)
		var r io.Reader = bytes.NewReader(body)
		length := int64(batchBytes)
		if i%2 == 1 {
			r, length = io.MultiReader(r), -1 // no declared length: chunked
		}
		go func() { results <- postBatch(t.Context(), base, r, length) }()
	}
	stored := 0
	for range batches {
		a := <-results
		if a.err != nil {
			t.Fatal(a.err)
		}
		switch a.resp.StatusCode {
		case http.StatusAccepted:
			stored++
		case http.StatusServiceUnavailable:
			checkEnvelope(t, a.resp, a.raw, http.StatusServiceUnavailable)
			if a.resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %s", a.raw)
			}
		default:
			t.Errorf("answer %d %s, want 202 or 503", a.resp.StatusCode, a.raw)
		}
	}
	close(stop)
	if most := <-peak; most > limits.MaxInflightBytes {
		t.Errorf("ingest held %d bytes at once, over its bound of %d", most, limits.MaxInflightBytes)
	}
	if stored == 0 {
		t.Error("no batch was stored")
	}
	if held := s.inflight.held.Load(); held != 0 {
		t.Errorf("ingest still holds %d bytes", held)
	}
}
