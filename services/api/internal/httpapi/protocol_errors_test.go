package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/httperror/httperrortest"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// TestProtocolErrorsAnswerInTheAPIFormat: what net/http answers itself,
// before any handler (a header over the limit: 431; a malformed request:
// 400), comes out of the API as Run serves it in the API's error format,
// not as net/http's plain text.
func TestProtocolErrorsAnswerInTheAPIFormat(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	_, nc, _ := testenv.JetStream(t)
	srv, err := httpapi.New(httpapi.Deps{Pool: pool, NATS: nc, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		AdminToken: adminToken, MaxBodyBytes: maxBodyBytes})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, addr, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitServing(t, "http://"+addr+"/healthz")

	for name, raw := range map[string]string{
		"header of 70,000 bytes": "GET /v1/webhooks HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70_000) + "\r\n\r\n",
		"malformed header line":  "GET /v1/webhooks HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
	} {
		resp, body := httperrortest.Exchange(t, addr, raw)
		status := resp.StatusCode
		var env map[string]any
		if json.Unmarshal(body, &env) != nil || env["status"] != "error" || env["error"] != strconv.Itoa(status) || env["message"] == "" {
			t.Errorf("%s: status %d, body %.200q; want the API's error envelope", name, status, body)
		}
		if want := map[string]int{"header of 70,000 bytes": 431, "malformed header line": 400}[name]; status != want {
			t.Errorf("%s: status %d, want %d", name, status, want)
		}
	}
}

func waitServing(t *testing.T, url string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, url+" to answer", func() (bool, string) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
}
