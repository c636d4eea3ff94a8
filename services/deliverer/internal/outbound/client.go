// Package outbound is the deliverer's HTTP client to customer endpoints:
// keep-alive pools, bounded timeouts, no redirects, and the SSRF guard of
// pkg/netguard applied to every address at dial time, after DNS resolution,
// so neither a hostname that resolves to a private address nor DNS
// rebinding can reach our own network.
package outbound

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/netguard"
)

// Config tunes the client.
type Config struct {
	// ConnectTimeout bounds the TCP connect and the TLS handshake.
	ConnectTimeout time.Duration
	// Timeout bounds a whole request, from dial to the last body byte read.
	Timeout time.Duration
	// AllowCIDRs are blocked ranges that may be reached anyway.
	AllowCIDRs []netip.Prefix
	// MaxIdleConnsPerHost is the keep-alive pool per endpoint.
	MaxIdleConnsPerHost int
}

// maxResponseHeaderBytes bounds what a hostile endpoint can make us buffer
// before its body.
const maxResponseHeaderBytes = 64 << 10

// NewClient returns the client for customer endpoints. Redirects are not
// followed (a 3xx is returned as the response, and counts as a failure),
// proxies from the environment are ignored (the guard must see the real
// destination), and every dialled address passes Guard.Check.
func NewClient(cfg Config) *http.Client {
	guard := dialGuard{netguard.Guard{Allow: cfg.AllowCIDRs}}
	dialer := &net.Dialer{
		Timeout:   cfg.ConnectTimeout,
		KeepAlive: 30 * time.Second,
		// Control runs after DNS resolution, for each address tried, just
		// before connect: the address checked is the address used.
		Control: func(_, address string, _ syscall.RawConn) error {
			return guard.checkDialAddress(address)
		},
	}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		return dialNumericHostsAsAddresses(ctx, dialer, network, address)
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    max(cfg.MaxIdleConnsPerHost, 2),
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    cfg.ConnectTimeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// dialNumericHostsAsAddresses reads the host as the API does
// (netguard.ParseHost): an address in any spelling resolvers accept
// ("0x7f.1", "2130706433") is dialled as that address, with no DNS lookup,
// and a host that ends in a number but is no address is refused unlooked-up.
// Names go to the dialer's resolver. Either way Control checks every
// address that is dialled.
func dialNumericHostsAsAddresses(ctx context.Context, dialer *net.Dialer, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("refused: cannot read destination %q: %w", address, err)
	}
	h, err := netguard.ParseHost(host)
	if err != nil {
		return nil, fmt.Errorf("refused: %w", err)
	}
	if h.Addr.IsValid() {
		address = net.JoinHostPort(h.Addr.String(), port)
	}
	return dialer.DialContext(ctx, network, address)
}

// dialGuard applies the shared address policy to what the dialer resolved.
type dialGuard struct{ netguard.Guard }

func (g dialGuard) checkDialAddress(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// The dialer always passes a resolved ip:port; anything else is
		// refused rather than guessed at.
		return fmt.Errorf("refused: cannot check destination %q: %w", address, err)
	}
	return g.Check(ap.Addr())
}
