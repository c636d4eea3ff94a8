package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip      string
		blocked bool
		name    string
	}{
		{"8.8.8.8", false, ""},
		{"1.1.1.1", false, ""},
		{"2606:4700:4700::1111", false, ""},
		{"127.0.0.1", true, "loopback"},
		{"127.255.255.254", true, "loopback"},
		{"10.1.2.3", true, "private"},
		{"172.16.0.1", true, "private"},
		{"172.31.255.255", true, "private"},
		{"172.32.0.1", false, ""},
		{"192.168.1.1", true, "private"},
		{"169.254.169.254", true, "cloud metadata"},
		{"169.254.1.1", true, "link-local"},
		{"100.64.0.1", true, "carrier-grade NAT"},
		{"100.127.255.255", true, "carrier-grade NAT"},
		{"100.128.0.1", false, ""},
		{"0.0.0.0", true, "this network"},
		{"0.1.2.3", true, "this network"},
		{"224.0.0.1", true, "multicast"},
		{"239.255.255.250", true, "multicast"},
		{"255.255.255.255", true, "reserved"},
		{"::", true, "unspecified"},
		{"::1", true, "loopback"},
		{"fc00::1", true, "unique local (private)"},
		{"fd12:3456::1", true, "unique local (private)"},
		{"fd00:ec2::254", true, "cloud metadata"},
		{"fe80::1", true, "link-local"},
		{"ff02::1", true, "multicast"},
		{"::ffff:127.0.0.1", true, "IPv4-mapped loopback"},
		{"::ffff:10.0.0.1", true, "IPv4-mapped private"},
		{"::ffff:169.254.169.254", true, "IPv4-mapped cloud metadata"},
		{"::ffff:100.64.0.1", true, "IPv4-mapped carrier-grade NAT"},
		{"::ffff:0.0.0.0", true, "IPv4-mapped this network"},
		{"::ffff:8.8.8.8", false, ""},
		{"64:ff9b::7f00:1", true, "NAT64 loopback"},
		{"64:ff9b::808:808", false, ""},
		{"::127.0.0.1", true, "IPv4-compatible loopback"},
		{"fe80::1%eth0", true, "link-local"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			t.Parallel()
			name, blocked := Classify(netip.MustParseAddr(tt.ip))
			if blocked != tt.blocked || name != tt.name {
				t.Errorf("Classify(%s) = (%q, %v), want (%q, %v)", tt.ip, name, blocked, tt.name, tt.blocked)
			}
		})
	}
}

func TestGuardAllowList(t *testing.T) {
	t.Parallel()
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd00:1::/32")}}
	for _, ip := range []string{"127.0.0.1", "::ffff:127.0.0.1", "fd00:1::5", "8.8.8.8"} {
		if err := g.Check(netip.MustParseAddr(ip)); err != nil {
			t.Errorf("Check(%s) = %v, want allowed", ip, err)
		}
	}
	for _, ip := range []string{"10.0.0.1", "::1", "169.254.169.254", "fd00:2::1"} {
		err := g.Check(netip.MustParseAddr(ip))
		var refused *RefusedError
		if !errors.As(err, &refused) {
			t.Errorf("Check(%s) = %v, want a RefusedError", ip, err)
		}
	}
}

func TestRefusedErrorMessage(t *testing.T) {
	t.Parallel()
	err := Guard{}.Check(netip.MustParseAddr("169.254.169.254"))
	want := "refused: destination 169.254.169.254 is in a blocked range (cloud metadata)"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestCheckHostJudgesLiteralsAndLocalhost(t *testing.T) {
	t.Parallel()
	strict := Guard{}
	for _, host := range []string{"127.0.0.1", "169.254.169.254", "[::1]", "::ffff:10.0.0.1", "localhost", "LOCALHOST.", "api.localhost", "10.1.2.3", "[fd00:ec2::254]"} {
		if err := strict.CheckHost(host); err == nil {
			t.Errorf("CheckHost(%q) allowed, want refused", host)
		}
	}
	for _, host := range []string{"example.com", "93.184.216.34", "[2606:2800:220:1:248:1893:25c8:1946]", "localhost.example.com"} {
		if err := strict.CheckHost(host); err != nil {
			t.Errorf("CheckHost(%q) = %v, want allowed", host, err)
		}
	}
	loopbackAllowed := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if err := loopbackAllowed.CheckHost("localhost"); err != nil {
		t.Errorf("localhost with 127.0.0.0/8 allowed: %v", err)
	}
}

// BlockedPrefixes is what a network policy repeats: every address it lists
// is one Check refuses, unless it only embeds an IPv4 address, which Check
// judges by that address and a policy refuses whole.
func TestBlockedPrefixesAreRefused(t *testing.T) {
	t.Parallel()
	prefixes := BlockedPrefixes()
	want := map[netip.Prefix]bool{
		netip.MustParsePrefix("169.254.169.254/32"): false,
		netip.MustParsePrefix("10.0.0.0/8"):         false,
		netip.MustParsePrefix("fc00::/7"):           false,
		netip.MustParsePrefix("::ffff:0:0/96"):      false,
	}
	for _, p := range prefixes {
		if _, ok := want[p]; ok {
			want[p] = true
		}
		embedding := false
		for _, e := range embeddedIPv4 {
			embedding = embedding || e.prefix == p
		}
		if _, blocked := Classify(p.Addr()); !blocked && !embedding {
			t.Errorf("BlockedPrefixes lists %s, but Classify allows %s", p, p.Addr())
		}
	}
	for p, seen := range want {
		if !seen {
			t.Errorf("BlockedPrefixes lacks %s", p)
		}
	}
}
