package credential

import (
	"net/http"
	"net/netip"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Defaults of the failure throttle.
const (
	// DefaultFailureBurst failed authentications are allowed from one
	// client address before it is throttled...
	DefaultFailureBurst = 20
	// ...and then one more every DefaultFailureInterval.
	DefaultFailureInterval = time.Second
	// DefaultThrottledAddresses bounds the addresses remembered; the least
	// recently failing are forgotten first.
	DefaultThrottledAddresses = 65536
)

// FailureThrottle counts failed authentications per client address, so a
// token guesser (or a PBX stuck on a revoked token) costs the database at
// most DefaultFailureBurst lookups and then one per DefaultFailureInterval,
// however many requests it sends and however many at once.
//
// Every failure is charged, even those that arrive while the address's
// allowance is already spent by concurrent requests: the allowance goes
// into debt, and the address waits the debt off. So a burst of C
// concurrent guesses buys C lookups once, then C intervals of 429s: the
// long-run rate stays one per interval whatever the concurrency.
// Successful authentications are never charged, so a busy, correctly
// configured client is never throttled.
//
// State is per process (per replica) and bounded: at most
// DefaultThrottledAddresses addresses, least recently failing forgotten
// first.
type FailureThrottle struct {
	every   rate.Limit
	burst   int
	buckets *lru.Cache[string, *rate.Limiter]
}

// NewFailureThrottle allows burst failures per address, then one every
// interval; zero values take the defaults.
func NewFailureThrottle(burst int, interval time.Duration) *FailureThrottle {
	if burst <= 0 {
		burst = DefaultFailureBurst
	}
	if interval <= 0 {
		interval = DefaultFailureInterval
	}
	// lru.New fails only on a non-positive size.
	buckets, _ := lru.New[string, *rate.Limiter](DefaultThrottledAddresses)
	return &FailureThrottle{every: rate.Every(interval), burst: burst, buckets: buckets}
}

// Throttled reports whether the address has spent its allowance, and how
// long until it may try again. It reads only; it remembers nothing about
// an address that never failed.
func (t *FailureThrottle) Throttled(address string, now time.Time) (time.Duration, bool) {
	bucket, ok := t.buckets.Get(address)
	if !ok {
		return 0, false
	}
	tokens := bucket.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	wait := time.Duration((1 - tokens) / float64(t.every) * float64(time.Second))
	return max(wait, time.Second), true
}

// Fail charges one failed authentication to address.
func (t *FailureThrottle) Fail(address string, now time.Time) {
	bucket, ok := t.buckets.Get(address)
	if !ok {
		fresh := rate.NewLimiter(t.every, t.burst)
		if previous, found, _ := t.buckets.PeekOrAdd(address, fresh); found {
			bucket = previous
		} else {
			bucket = fresh
		}
	}
	// A reservation is never cancelled: past the burst it puts the bucket
	// into debt, which is the point.
	bucket.ReserveN(now, 1)
}

// HeaderForwardedFor is the header a reverse proxy appends the address of
// its own client to.
const HeaderForwardedFor = "X-Forwarded-For"

// maxForwardedHops bounds the X-Forwarded-For entries examined.
const maxForwardedHops = 16

// ClientAddresses says which client address a request is counted under.
// With no trusted proxies it is the TCP peer: X-Forwarded-For is ignored,
// since any client can write it. When the peer is a trusted proxy, the
// client is the rightmost X-Forwarded-For entry that is not itself a
// trusted proxy: each proxy appends the address it saw, so entries right
// of that one were written by proxies the operator runs, and entries left
// of it by the client, who may have forged them.
type ClientAddresses struct {
	trusted []netip.Prefix
}

// NewClientAddresses trusts X-Forwarded-For from peers within trusted
// (e.g. the ingress controller's pod range); nil trusts no one.
func NewClientAddresses(trusted []netip.Prefix) ClientAddresses {
	return ClientAddresses{trusted: trusted}
}

// Of is the key r is counted under (see ClientAddress for its form). A
// trusted peer whose X-Forwarded-For is missing, repeated, unparsable,
// longer than 16 entries or all trusted is counted as itself.
func (c ClientAddresses) Of(r *http.Request) string {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !c.isTrusted(peer) {
		return ClientAddress(r.RemoteAddr)
	}
	values := r.Header.Values(HeaderForwardedFor)
	if len(values) != 1 {
		return ClientAddress(r.RemoteAddr)
	}
	hops := strings.Split(values[0], ",")
	if len(hops) > maxForwardedHops {
		return ClientAddress(r.RemoteAddr)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ClientAddress(r.RemoteAddr)
		}
		if !c.isTrusted(addr.Unmap()) {
			return ClientAddress(addr.String())
		}
	}
	return ClientAddress(r.RemoteAddr)
}

func (c ClientAddresses) isTrusted(addr netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func peerAddr(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(remoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// ClientAddress is the key the throttle counts an address under: the IP
// address of remoteAddr (host:port or a bare address), or for IPv6 its
// /64, since one host usually holds a whole /64 and could otherwise rotate
// addresses freely. Anything unparsable (a Unix socket peer) is counted as
// "unknown".
func ClientAddress(remoteAddr string) string {
	addr := peerAddr(remoteAddr)
	if !addr.IsValid() {
		return "unknown"
	}
	if addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return "unknown"
	}
	return prefix.String()
}
