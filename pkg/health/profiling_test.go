package health_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/health"
)

func TestServeProfilingIsOffWithoutAnAddress(t *testing.T) {
	t.Parallel()
	if err := health.ServeProfiling(t.Context(), ""); err != nil {
		t.Fatalf("ServeProfiling with no address: %v", err)
	}
}

func TestServeProfilingServesPprofUntilCancelled(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- health.ServeProfiling(ctx, addr) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("pprof answered %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pprof never answered on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeProfiling after cancel: %v", err)
	}
}
