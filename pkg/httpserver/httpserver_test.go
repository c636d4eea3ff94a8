package httpserver_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/httpserver"
)

// inFlight serves one request that blocks until release is closed, and
// reports on started once it has arrived.
func inFlight(started chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "answered")
	})
}

func TestServeAnswersInFlightRequestsBeforeReturning(t *testing.T) {
	t.Parallel()
	ln, err := httpserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- httpserver.Serve(ctx, ln, &http.Server{Handler: inFlight(started, release)}, time.Minute)
	}()

	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answer <- string(body)
	}()
	<-started
	cancel()
	// Shutdown has begun: new connections are refused while the request
	// in flight still gets its answer.
	close(release)
	if got := <-answer; got != "answered" {
		t.Fatalf("in-flight request got %q, want its answer", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after a clean shutdown: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("the listener still accepts connections after Serve returned")
	}
}

func TestServeReportsRequestsThatOutliveTheGracePeriod(t *testing.T) {
	t.Parallel()
	ln, err := httpserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- httpserver.Serve(ctx, ln, &http.Server{Handler: inFlight(started, release)}, time.Millisecond)
	}()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	err = <-served
	if err == nil || !strings.Contains(err.Error(), "shut down "+ln.Addr().String()) {
		t.Fatalf("Serve with a request still in flight after the grace period: %v, want a shutdown error naming the address", err)
	}
}

func TestListenNamesTheAddressItCannotUse(t *testing.T) {
	t.Parallel()
	ln, err := httpserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = httpserver.ListenAndServe(t.Context(), ln.Addr().String(), &http.Server{}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "listen on "+ln.Addr().String()) {
		t.Fatalf("ListenAndServe on a taken address: %v, want an error naming it", err)
	}
}
