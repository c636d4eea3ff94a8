package credential

import (
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
