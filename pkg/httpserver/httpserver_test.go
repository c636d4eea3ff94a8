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

// servingOne starts Serve with grace on a new listener whose one request
// blocks until release is closed. It returns the address, a channel closed
// once the request has arrived, the function that ends Serve's context, and
// Serve's result.
func servingOne(t *testing.T, grace time.Duration, release <-chan struct{}) (addr string, started <-chan struct{}, stop func(), served <-chan error) {
	t.Helper()
	ln, err := httpserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, "answered")
	})
	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	go func() { result <- httpserver.Serve(ctx, ln, &http.Server{Handler: handler}, grace) }()
	return ln.Addr().String(), arrived, cancel, result
}

func TestServeAnswersInFlightRequestsBeforeReturning(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	addr, started, stop, served := servingOne(t, time.Minute, release)
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answer <- string(body)
	}()
	<-started
	stop()
	// Shutdown has begun: new connections are refused while the request
	// in flight still gets its answer.
	close(release)
	if got := <-answer; got != "answered" {
		t.Fatalf("in-flight request got %q, want its answer", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after a clean shutdown: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Fatal("the listener still accepts connections after Serve returned")
	}
}

func TestServeReportsRequestsThatOutliveTheGracePeriod(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	addr, started, stop, served := servingOne(t, time.Millisecond, release)
	go func() {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	stop()
	err := <-served
	if err == nil || !strings.Contains(err.Error(), "shut down "+addr) {
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
