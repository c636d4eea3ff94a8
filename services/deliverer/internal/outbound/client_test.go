package outbound

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/netguard"
)

func newReceiver(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func testClient(allow ...string) *http.Client {
	var prefixes []netip.Prefix
	for _, a := range allow {
		prefixes = append(prefixes, netip.MustParsePrefix(a))
	}
	return NewClient(Config{ConnectTimeout: 5 * time.Second, Timeout: 10 * time.Second, AllowCIDRs: prefixes})
}

func TestLoopbackRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	srv, hits := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

	_, err := testClient().Post(srv.URL, "text/plain", strings.NewReader("x"))
	var refused *netguard.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("POST to %s without an allow list: err = %v, want a RefusedError", srv.URL, err)
	}
	if !strings.Contains(err.Error(), "refused: destination 127.0.0.1 is in a blocked range (loopback)") {
		t.Fatalf("refusal does not say why: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the refused request reached the receiver")
	}

	resp, err := testClient("127.0.0.0/8").Post(srv.URL, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatalf("POST with 127.0.0.0/8 allowed: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" || hits.Load() != 1 {
		t.Fatalf("allowed POST: status %d body %q hits %d", resp.StatusCode, body, hits.Load())
	}
}

func TestHostnameResolvingToLoopbackIsRefused(t *testing.T) {
	t.Parallel()
	srv, hits := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {})
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, err = testClient().Get("http://localhost:" + port + "/")
	var refused *netguard.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("GET http://localhost: err = %v, want a RefusedError", err)
	}
	if !refused.IP.IsLoopback() {
		t.Fatalf("refused %s, want a loopback address", refused.IP)
	}
	if hits.Load() != 0 {
		t.Fatal("the refused request reached the receiver")
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	target, _ := newReceiver(t, func(http.ResponseWriter, *http.Request) { followed.Store(true) })
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	})
	resp, err := testClient("127.0.0.0/8").Get(srv.URL)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || followed.Load() {
		t.Fatalf("status %d, followed %v: a redirect must be returned as is", resp.StatusCode, followed.Load())
	}
}

func TestCheckDialAddressRefusesUnparsable(t *testing.T) {
	t.Parallel()
	if err := (dialGuard{}).checkDialAddress("example.com:80"); err == nil {
		t.Fatal("an unresolved dial address was allowed")
	}
	if err := (dialGuard{}).checkDialAddress("[2606:4700:4700::1111]:443"); err != nil {
		t.Fatalf("public IPv6 dial address refused: %v", err)
	}
}

// TestNumericHostsAreReadNotLookedUp: a host spelled as an address in a way
// resolvers accept ("0x7f.1", "2130706433") is dialled as that address, with
// no DNS lookup, and checked like any other; one that ends in a number but
// is no address is refused without a lookup. (The API refuses both at
// creation; this covers hooks stored before it did.)
func TestNumericHostsAreReadNotLookedUp(t *testing.T) {
	t.Parallel()
	srv, hits := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {})
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"0x7f.1", "2130706433", "0177.0.0.1", "127.1"} {
		_, err := testClient().Get("http://" + host + ":" + port + "/")
		var refused *netguard.RefusedError
		if !errors.As(err, &refused) || refused.IP != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("GET http://%s: err = %v, want a RefusedError for 127.0.0.1", host, err)
		}
		resp, err := testClient("127.0.0.0/8").Get("http://" + host + ":" + port + "/")
		if err != nil {
			t.Errorf("GET http://%s with loopback allowed: %v", host, err)
			continue
		}
		resp.Body.Close()
	}
	if hits.Load() != 4 {
		t.Fatalf("receiver hit %d times, want 4 (once per allowed spelling)", hits.Load())
	}
	_, err = testClient("127.0.0.0/8").Get("http://127.0.0.256:" + port + "/")
	if !errors.Is(err, netguard.ErrInvalidHost) {
		t.Fatalf("GET http://127.0.0.256: err = %v, want ErrInvalidHost", err)
	}
}
