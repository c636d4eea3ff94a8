package httpapi

import (
	"bufio"
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
	"github.com/pbxhooks/pbxhooks/pkg/testenv"
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

// rawExchange writes raw on a new connection and reads one answer.
func rawExchange(t *testing.T, baseURL, raw string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(baseURL, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	return resp, body
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

	resp, raw := rawExchange(t, base, "POST /v1/accounts/acct1/events HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", maxHeaderBytes+8<<10)+"\r\n\r\n")
	checkEnvelope(t, resp, raw, http.StatusRequestHeaderFieldsTooLarge)

	resp, raw = rawExchange(t, base, "POST /v1/accounts/acct1/events HTTP/1.1\r\n\r\n")
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

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

const testBoundary = "bounds-test-boundary"

// uploadHead is a form's fields and the head of its file part; the file's
// bytes and uploadTail follow.
const uploadHead = "--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nvoicemail\r\n" +
	"--" + testBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"vm.wav\"\r\nContent-Type: audio/wav\r\n\r\n"

const uploadTail = "\r\n--" + testBoundary + "--\r\n"

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
	if !waitFor(t, 10*time.Second, func() bool { return mediaStreamBytes(t, js) >= 64<<10 }) {
		t.Fatalf("the upload's first chunks never reached the bucket (%d bytes)", mediaStreamBytes(t, js))
	}
	cancel() // the client gives up: its connection closes mid-body
	_ = pw.CloseWithError(errors.New("client gone"))
	if a := <-done; a.err == nil {
		t.Fatalf("the aborted upload was answered %d %s", a.resp.StatusCode, a.raw)
	}
	if !waitFor(t, 10*time.Second, func() bool { return mediaStreamBytes(t, js) == 0 }) {
		for _, m := range storedMsgs(t, js, "OBJ_"+bus.MediaBucket) {
			t.Logf("left: %s %v %q", m.Subject, m.Header, m.Data)
		}
		t.Fatalf("after the aborted upload the media bucket still holds %d bytes", mediaStreamBytes(t, js))
	}
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
	var body uploadedBody
	if err := json.Unmarshal(a.raw, &body); err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(t.Context(), bus.MediaBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(t.Context(), body.Data.MediaID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.Chunks != 2 {
		t.Errorf("stored %d bytes in %d chunks, want %d bytes in 2 chunks", info.Size, info.Chunks, size)
	}
}
