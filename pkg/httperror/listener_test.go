package httperror

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/httperror/httperrortest"
)

// serve runs an http.Server on Listener with a small header limit and
// returns its address.
func serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "handler answer")
		}),
		MaxHeaderBytes:    1 << 10,
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestListenerAnswersProtocolErrorsInTheEnvelope(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	for _, tc := range []struct {
		name    string
		raw     string
		status  int
		message string
	}{
		{"oversized headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, "the request headers are too large"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", http.StatusBadRequest, "malformed request: missing required Host header"},
		{"garbage request line", "NOT HTTP AT ALL\r\n\r\n", http.StatusBadRequest, "malformed request"},
		{"unknown transfer encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			http.StatusNotImplemented, "unsupported Transfer-Encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := httperrortest.Exchange(t, addr, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("answer is not JSON: %v: %q", err, raw)
			}
			want := map[string]any{"status": "error", "error": fmt.Sprint(tc.status), "message": tc.message, "data": map[string]any{}}
			if fmt.Sprint(body) != fmt.Sprint(want) {
				t.Errorf("body %v, want %v", body, want)
			}
		})
	}
}

// A handler's own answer passes untouched, even one that copies the
// headers net/http puts on its plain-text errors.
func TestListenerLeavesHandlerAnswersAlone(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	resp, raw := httperrortest.Exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != http.StatusOK || string(raw) != "handler answer" || resp.Header.Get("Date") == "" {
		t.Errorf("answer %d %v %q", resp.StatusCode, resp.Header, raw)
	}
}

func TestParsePlainAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		status int
		detail string
		ok     bool
	}{
		{"HTTP/1.1 431 Request Header Fields Too Large" + plainErrorHeaders + "431 Request Header Fields Too Large", 431, "", true},
		{"HTTP/1.1 400 Bad Request: malformed Host header" + plainErrorHeaders + "400 Bad Request: malformed Host header", 400, "malformed Host header", true},
		{"HTTP/1.1 501 Not Implemented" + plainErrorHeaders + "Unsupported transfer encoding", 501, "", true},
		{"HTTP/1.1 200 OK" + plainErrorHeaders + "fine", 0, "", false},
		{"HTTP/1.1 400 Bad Request\r\nDate: x" + plainErrorHeaders, 0, "", false},
		{"HTTP/1.1 400 Not The Reason" + plainErrorHeaders, 0, "", false},
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{}", 0, "", false},
		{"HTTP/1.1 4000 Bad Request" + plainErrorHeaders, 0, "", false},
		{"", 0, "", false},
	} {
		status, detail, ok := parsePlainAnswer([]byte(tc.in))
		if status != tc.status || detail != tc.detail || ok != tc.ok {
			t.Errorf("parsePlainAnswer(%q) = %d %q %v, want %d %q %v", tc.in, status, detail, ok, tc.status, tc.detail, tc.ok)
		}
	}
}

// FuzzParsePlainAnswer checks that whatever is written on a connection,
// only an error status is recognised, and its rewrite is a well-formed
// answer with the envelope.
func FuzzParsePlainAnswer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 431 Request Header Fields Too Large" + plainErrorHeaders + "431 Request Header Fields Too Large"))
	f.Add([]byte("HTTP/1.1 400 Bad Request: missing required Host header" + plainErrorHeaders + "x"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: Mon\r\n\r\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		status, detail, ok := parsePlainAnswer(p)
		if !ok {
			return
		}
		if status < 400 || status > 599 || strings.ContainsAny(detail, "\r\n") {
			t.Fatalf("recognised status %d detail %q in %q", status, detail, p)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(render(status, detail)))), nil)
		if err != nil {
			t.Fatalf("rewrite is not an HTTP answer: %v", err)
		}
		var body Body
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != status || body.Status != "error" {
			t.Fatalf("rewrite %d %+v: %v", resp.StatusCode, body, err)
		}
	})
}
