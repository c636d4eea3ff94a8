package credential

import (
	"net/netip"
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

// ClientAddress is the key the throttle counts a request under: the peer's
// IP address (from http.Request.RemoteAddr), or for IPv6 its /64, since one
// host usually holds a whole /64 and could otherwise rotate addresses
// freely. X-Forwarded-For is not read: any client can write it. Behind a
// reverse proxy every client therefore shares the proxy's address.
// Anything unparsable (a Unix socket peer) is counted as "unknown".
func ClientAddress(remoteAddr string) string {
	addrPort, err := netip.ParseAddrPort(remoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = addrPort.Addr()
	} else if addr, err = netip.ParseAddr(remoteAddr); err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return "unknown"
	}
	return prefix.String()
}
