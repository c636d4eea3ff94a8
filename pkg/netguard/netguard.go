// Package netguard decides which network addresses customer webhooks may
// reach. The deliverer checks every dialled address with it (after DNS, so
// rebinding does not help) and the API checks the hosts of hook URLs with it
// (ParseHost reads every spelling of an address a resolver accepts), so both
// refuse the same loopback, private, link-local, CGNAT, multicast and
// cloud-metadata ranges unless DELIVERY_ALLOW_CIDRS allows them.
package netguard

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

// ReadAllowCIDRs reads DELIVERY_ALLOW_CIDRS, the blocked ranges customer
// webhooks may still reach (comma-separated CIDR prefixes; empty allows
// none). It is the one reader of the variable: the deliverer dials by it
// and the API accepts hook URLs by it, so both must read it alike.
func ReadAllowCIDRs(e *config.Env) []netip.Prefix { return e.Prefixes("DELIVERY_ALLOW_CIDRS") }

// RefusedError says a connection was refused because its destination is in
// a blocked range. Its message is what the attempt row shows.
type RefusedError struct {
	IP    netip.Addr
	Range string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused: destination %s is in a blocked range (%s)", e.IP, e.Range)
}

type blockedRange struct {
	prefix netip.Prefix
	name   string
}

// blockedRanges are refused unless allowed explicitly. More specific entries
// come first so the reason names the most telling range (the cloud metadata
// address before the link-local block that contains it).
var blockedRanges = []blockedRange{
	{netip.MustParsePrefix("169.254.169.254/32"), "cloud metadata"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata"},
	{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "unique local (private)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
}

// embeddedIPv4 are IPv6 prefixes whose last 32 bits are an IPv4 address that
// the network may route to: such an address is judged by its IPv4 part.
var embeddedIPv4 = []struct {
	prefix netip.Prefix
	form   string
}{
	{netip.MustParsePrefix("::ffff:0:0/96"), "IPv4-mapped"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
}

// BlockedPrefixes returns every range the guard refuses, with the IPv6
// ranges that embed an IPv4 address: the guard judges those by their IPv4
// part, but a network policy, which cannot, refuses them whole. The network
// policy that repeats the guard (deployments/k8s) is checked against it.
func BlockedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(blockedRanges)+len(embeddedIPv4))
	for _, r := range blockedRanges {
		out = append(out, r.prefix)
	}
	for _, e := range embeddedIPv4 {
		out = append(out, e.prefix)
	}
	return out
}

// Classify reports whether ip is in a blocked range and, if so, its name.
func Classify(ip netip.Addr) (rangeName string, blocked bool) {
	if !ip.IsValid() {
		return "invalid address", true
	}
	ip = ip.WithZone("")
	for _, e := range embeddedIPv4 {
		// ::/96 contains :: and ::1 themselves, which are judged as IPv6.
		if ip.Is6() && e.prefix.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback() {
			v4 := netip.AddrFrom4([4]byte(ip.AsSlice()[12:]))
			if name, blocked := Classify(v4); blocked {
				return e.form + " " + name, true
			}
			return "", false
		}
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.name, true
		}
	}
	return "", false
}

// Guard decides whether a destination address may be dialled.
type Guard struct {
	// Allow lists ranges that are reachable even though they are blocked,
	// e.g. 127.0.0.0/8 for local development and tests.
	Allow []netip.Prefix
}

// Check returns a *RefusedError when ip is blocked and not allowed.
func (g Guard) Check(ip netip.Addr) error {
	ip = ip.WithZone("")
	for _, p := range g.Allow {
		if p.Contains(ip) || (ip.Is4In6() && p.Contains(ip.Unmap())) {
			return nil
		}
	}
	if name, blocked := Classify(ip); blocked {
		return &RefusedError{IP: ip, Range: name}
	}
	return nil
}

// CheckHost judges a URL host (url.URL.Hostname) as the API sees it, before
// any DNS lookup. An IP literal in any spelling ParseHost reads ("10.1",
// "0xa000001", "[::ffff:a00:1]") is checked like a dialled address, and
// "localhost" and its subdomains (which resolve to loopback everywhere) are
// judged as 127.0.0.1: both give a *RefusedError. A host that is neither a
// name nor an address gives an error wrapping ErrInvalidHost. Other names
// pass here; the deliverer checks what they resolve to at dial time.
func (g Guard) CheckHost(host string) error {
	h, err := ParseHost(host)
	if err != nil {
		return err
	}
	if h.Addr.IsValid() {
		return g.Check(h.Addr)
	}
	if h.Name == "localhost" || strings.HasSuffix(h.Name, ".localhost") {
		return g.Check(netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	}
	return nil
}
