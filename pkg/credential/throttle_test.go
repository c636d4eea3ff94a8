package credential

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestFailureThrottle(t *testing.T) {
	t.Parallel()
	th := NewFailureThrottle(3, time.Second)
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if _, throttled := th.Throttled("192.0.2.1", now); throttled {
			t.Fatalf("throttled after %d failures; the burst is 3", i)
		}
		th.Fail("192.0.2.1", now)
	}
	wait, throttled := th.Throttled("192.0.2.1", now)
	if !throttled || wait != time.Second {
		t.Fatalf("after the burst: throttled=%v wait=%v; want true, 1s", throttled, wait)
	}
	if _, throttled := th.Throttled("192.0.2.2", now); throttled {
		t.Fatal("another address is throttled too")
	}
	if _, throttled := th.Throttled("192.0.2.1", now.Add(time.Second)); throttled {
		t.Fatal("still throttled after one interval")
	}
	// Failures that slipped in concurrently put the allowance in debt: ten
	// more failures cost ten more intervals.
	for range 10 {
		th.Fail("192.0.2.1", now)
	}
	wait, throttled = th.Throttled("192.0.2.1", now.Add(5*time.Second))
	if !throttled || wait != 6*time.Second {
		t.Fatalf("in debt: throttled=%v wait=%v; want true, 6s", throttled, wait)
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"192.0.2.7:5060":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:5060":        "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":     "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":              "fe80::/64",
		"192.0.2.7":                      "192.0.2.7",
		"@":                              "unknown",
		"":                               "unknown",
		"example.com:80":                 "unknown",
		"[2001:db8::1]:80, 192.0.2.1:80": "unknown",
	}
	for in, want := range tests {
		if got := ClientAddress(in); got != want {
			t.Errorf("ClientAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzClientAddress: any RemoteAddr gives a short key, and two addresses
// of one IPv6 /64 share it.
func FuzzClientAddress(f *testing.F) {
	f.Add("192.0.2.7:5060")
	f.Add("[2001:db8::1]:443")
	f.Add("[fe80::1%eth0]:80")
	f.Add("@")
	f.Fuzz(func(t *testing.T, remote string) {
		key := ClientAddress(remote)
		if key == "" || len(key) > len("ffff:ffff:ffff:ffff::/64") {
			t.Fatalf("ClientAddress(%q) = %q", remote, key)
		}
	})
}

func TestClientAddressesTrustOnlyConfiguredProxies(t *testing.T) {
	t.Parallel()
	proxies := NewClientAddresses([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")})
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client, forged header ignored", "192.0.2.7:5060", []string{"198.51.100.1"}, "192.0.2.7"},
		{"proxy names its client", "10.1.2.3:40000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-forged entries left of the real one", "10.1.2.3:40000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"a chain of trusted proxies", "10.1.2.3:40000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"IPv6 client through a proxy", "[fd00::5]:80", []string{"2001:db8:1:2::9"}, "2001:db8:1:2::/64"},
		{"proxy without the header", "10.1.2.3:40000", nil, "10.1.2.3"},
		{"header sent twice", "10.1.2.3:40000", []string{"198.51.100.1", "198.51.100.2"}, "10.1.2.3"},
		{"unparsable entry", "10.1.2.3:40000", []string{"198.51.100.1, nonsense"}, "10.1.2.3"},
		{"all hops trusted", "10.1.2.3:40000", []string{"10.0.0.9"}, "10.1.2.3"},
		{"too many hops", "10.1.2.3:40000", []string{strings.Repeat("198.51.100.1,", 20) + "198.51.100.2"}, "10.1.2.3"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add(HeaderForwardedFor, v)
		}
		if got := proxies.Of(r); got != tt.want {
			t.Errorf("%s: Of = %q, want %q", tt.name, got, tt.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.2.3:40000"
	r.Header.Set(HeaderForwardedFor, "198.51.100.1")
	if got := NewClientAddresses(nil).Of(r); got != "10.1.2.3" {
		t.Errorf("no trusted proxies: Of = %q, want the peer", got)
	}
}

// FuzzClientAddresses: whatever X-Forwarded-For says, the key is a short
// address or "unknown", and an untrusted peer is always counted as itself.
func FuzzClientAddresses(f *testing.F) {
	f.Add("10.1.2.3:40000", "198.51.100.1")
	f.Add("10.1.2.3:40000", "6.6.6.6, 198.51.100.1, 10.0.0.1")
	f.Add("192.0.2.7:1", "198.51.100.1")
	f.Add("[fd00::1]:1", "2001:db8::1%eth0")
	proxies := NewClientAddresses([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set(HeaderForwardedFor, xff)
		key := proxies.Of(r)
		if key == "" || len(key) > len("ffff:ffff:ffff:ffff::/64") {
			t.Fatalf("Of(%q, %q) = %q", remote, xff, key)
		}
		if peer := peerAddr(remote); !peer.IsValid() || !proxies.isTrusted(peer) {
			if key != ClientAddress(remote) {
				t.Fatalf("untrusted peer %q counted as %q", remote, key)
			}
		}
	})
}
