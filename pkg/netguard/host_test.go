package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestParseHostReadsEverySpellingOfIPv4: the spellings C resolvers
// (inet_aton) and browsers (WHATWG URL) turn into an address are read as
// that address, so a blocked one cannot hide behind them.
func TestParseHostReadsEverySpellingOfIPv4(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"10.1":                  "10.0.0.1",
		"167772161":             "10.0.0.1",
		"0xa000001":             "10.0.0.1",
		"0XA000001":             "10.0.0.1",
		"012.0.0.1":             "10.0.0.1",
		"0x7f.1":                "127.0.0.1",
		"0x7f.0.0.0x1":          "127.0.0.1",
		"127.1":                 "127.0.0.1",
		"127.0.1":               "127.0.0.1",
		"0177.0.0.01":           "127.0.0.1",
		"2130706433":            "127.0.0.1",
		"017700000001":          "127.0.0.1",
		"127.0.0.1.":            "127.0.0.1",
		"0":                     "0.0.0.0",
		"0x":                    "0.0.0.0",
		"169.254.43518":         "169.254.169.254",
		"0xa9.0xfe.0xa9.0xfe":   "169.254.169.254",
		"８.８.８.８":               "8.8.8.8",
		"１０.０.０.１":              "10.0.0.1",
		"10。0。0。1":              "10.0.0.1",
		"8.8.8.8":               "8.8.8.8",
		"4294967295":            "255.255.255.255",
		"1.2.3.0x":              "1.2.3.0",
		"[::1]":                 "::1",
		"::ffff:a00:1":          "::ffff:10.0.0.1",
		"0:0:0:0:0:ffff:7f00:1": "::ffff:127.0.0.1",
	}
	for host, want := range tests {
		got, err := ParseHost(host)
		if err != nil || got.Addr != netip.MustParseAddr(want) || got.Name != "" {
			t.Errorf("ParseHost(%q) = %+v, %v; want address %s", host, got, err, want)
		}
	}
}

// TestParseHostRefusesNumericNonAddresses: a host that ends in a number but
// is no address is invalid, never a name to look up.
func TestParseHostRefusesNumericNonAddresses(t *testing.T) {
	t.Parallel()
	for _, host := range []string{
		"4294967296", "256.0.0.1", "1.2.3.4.5", "1.2.3.256", "1.2.65536", "09.0.0.1", "0x100000000",
		"example.123", "foo.0x1", "0x" + strings.Repeat("f", 40), "1..2", "::g", "[1.2.3.4]:80", "",
	} {
		got, err := ParseHost(host)
		if !errors.Is(err, ErrInvalidHost) {
			t.Errorf("ParseHost(%q) = %+v, %v; want ErrInvalidHost", host, got, err)
		}
	}
	// Names stay names, in lower case without the root's dot.
	for host, want := range map[string]string{
		"Example.COM.": "example.com", "1.example.com": "1.example.com", "0x1g": "0x1g",
		"bücher.example": "xn--bcher-kva.example", "v1.api": "v1.api",
	} {
		got, err := ParseHost(host)
		if err != nil || got.Name != want || got.Addr.IsValid() {
			t.Errorf("ParseHost(%q) = %+v, %v; want name %q", host, got, err, want)
		}
	}
}

func TestCheckHostRefusesNonCanonicalBlockedAddresses(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"10.1", "167772161", "0xa000001", "012.0.0.1", "0x7f.1", "127.0.0.1.", "169.254.43518", "１２７.０.０.１"} {
		var refused *RefusedError
		if err := (Guard{}).CheckHost(host); !errors.As(err, &refused) {
			t.Errorf("CheckHost(%q) = %v, want a RefusedError", host, err)
		}
	}
	if err := (Guard{}).CheckHost("999.1.1.1"); !errors.Is(err, ErrInvalidHost) {
		t.Errorf("CheckHost(999.1.1.1) = %v, want ErrInvalidHost", err)
	}
	if err := (Guard{}).CheckHost("0x08080808"); err != nil {
		t.Errorf("CheckHost(0x08080808) = %v, want allowed (8.8.8.8)", err)
	}
}

// FuzzParseHost: any host either fails with ErrInvalidHost, is a name that
// does not end in a number, or is an address; a canonical dotted quad is
// read as netip reads it.
func FuzzParseHost(f *testing.F) {
	for _, seed := range []string{"10.1", "0xa000001", "012.0.0.1", "example.com", "１０.０.０.１", "[::1]", "1.2.3.4.", "0x", "..", "a.0x1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, host string) {
		got, err := ParseHost(host)
		if err != nil {
			if !errors.Is(err, ErrInvalidHost) {
				t.Fatalf("ParseHost(%q) error %v does not wrap ErrInvalidHost", host, err)
			}
			return
		}
		if got.Addr.IsValid() == (got.Name != "") {
			t.Fatalf("ParseHost(%q) = %+v: want exactly one of address and name", host, got)
		}
		if got.Name != "" && endsInNumber(got.Name) {
			t.Fatalf("ParseHost(%q) = name %q that ends in a number", host, got.Name)
		}
		if want, err := netip.ParseAddr(host); err == nil && want.Is4() && got.Addr != want {
			t.Fatalf("ParseHost(%q) = %v, want %v", host, got.Addr, want)
		}
	})
}
