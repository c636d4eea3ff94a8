package httpapi

import (
	"bufio"
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
