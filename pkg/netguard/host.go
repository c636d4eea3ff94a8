package netguard

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// ErrInvalidHost is wrapped by ParseHost's errors: the host is neither a
// usable DNS name nor an IP address in any spelling.
var ErrInvalidHost = errors.New("invalid host")

// Host is a URL host as a client would use it: exactly one of Addr (an IP
// literal, in whatever spelling it was written) and Name (a DNS name, lower
// case, in ASCII, without a trailing dot) is set.
type Host struct {
	Addr netip.Addr
	Name string
}

// ParseHost reads a URL host (url.URL.Hostname: no brackets, no port) the way
// browsers and C resolvers do, following the WHATWG URL standard's host
// parser: a name whose last label is numeric ("10.1", "167772161",
// "0xa000001", "012.0.0.1", "1.2.3.0x4.") is an IPv4 address in the
// inet_aton spellings (decimal, octal with a leading 0, hex with 0x; fewer
// than four parts, the last filling the remaining bytes), or else invalid:
// it is never a name to look up. Non-ASCII names are mapped to ASCII with
// IDNA, as net/http does before dialling, so "１０.０.０.１" is 10.0.0.1.
func ParseHost(host string) (Host, error) {
	if host == "" {
		return Host{}, fmt.Errorf("%w: empty", ErrInvalidHost)
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		// A bracketed host is an IPv6 literal, whatever is inside.
		addr, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !addr.Is6() {
			return Host{}, fmt.Errorf("%w: %q is not an IPv6 address", ErrInvalidHost, host)
		}
		return Host{Addr: addr}, nil
	}
	if strings.Contains(host, ":") {
		addr, err := netip.ParseAddr(host)
		if err != nil {
			return Host{}, fmt.Errorf("%w: %q is not an IPv6 address", ErrInvalidHost, host)
		}
		return Host{Addr: addr}, nil
	}
	ascii := host
	if !isASCII(host) {
		var err error
		if ascii, err = idna.Lookup.ToASCII(host); err != nil {
			return Host{}, fmt.Errorf("%w: %q is not a valid internationalised name", ErrInvalidHost, host)
		}
	}
	ascii = strings.ToLower(ascii)
	if endsInNumber(ascii) {
		addr, ok := parseIPv4(ascii)
		if !ok {
			return Host{}, fmt.Errorf("%w: %q ends in a number but is not an IPv4 address", ErrInvalidHost, host)
		}
		return Host{Addr: addr}, nil
	}
	name := strings.TrimSuffix(ascii, ".")
	if strings.Contains("."+name+".", "..") {
		return Host{}, fmt.Errorf("%w: %q has an empty label", ErrInvalidHost, host)
	}
	return Host{Name: name}, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// labels splits a host into its labels, dropping one empty last label (the
// root's trailing dot) when there are others.
func labels(host string) []string {
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// endsInNumber is the WHATWG "ends in a number" test: the last label is all
// decimal digits, or a valid IPv4 number in another base ("0x", "0x1f").
func endsInNumber(host string) bool {
	parts := labels(host)
	last := parts[len(parts)-1]
	if last == "" {
		return false
	}
	if strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := parseIPv4Number(last)
	return ok
}

// parseIPv4 is the WHATWG IPv4 parser: one to four numbers separated by
// dots, every one but the last at most 255, the last filling the bytes
// that remain.
func parseIPv4(host string) (netip.Addr, bool) {
	parts := labels(host)
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	numbers := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, false
		}
		numbers[i] = n
	}
	last := len(numbers) - 1
	for _, n := range numbers[:last] {
		if n > 255 {
			return netip.Addr{}, false
		}
	}
	if numbers[last] >= 1<<(8*(5-len(numbers))) {
		return netip.Addr{}, false
	}
	v := numbers[last]
	for i, n := range numbers[:last] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseIPv4Number reads one part: decimal, hex after 0x, octal after a
// leading 0; "0x" alone is 0. A value beyond 64 bits is still a number
// (saturated), too large for any part.
func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	if s == "" {
		return 0, true
	}
	// ParseUint with an explicit base takes no sign, prefix or '_'.
	n, err := strconv.ParseUint(s, base, 64)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxUint64, true
	}
	return n, err == nil
}
