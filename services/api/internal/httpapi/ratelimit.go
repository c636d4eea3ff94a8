package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/pbxhooks/pbxhooks/pkg/httperror"
)

// tokenLimiter is a token bucket per API token (the admin token is one
// token), so one busy integration cannot starve the others.
//
// The buckets live in this process: the limit is per API replica, and N
// replicas behind a load balancer let a token through at up to N times the
// configured rate. That is deliberate: the limit protects PostgreSQL and
// NATS from a runaway script, not a billing quota, and a shared limiter
// would put a network round trip on every request.
type tokenLimiter struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// idleBucketTTL is how long an unused bucket is kept. By then it has
// refilled to its burst, so dropping it changes nothing for its token; it
// keeps revoked tokens from holding memory forever.
const idleBucketTTL = 10 * time.Minute

func newTokenLimiter(limit rate.Limit, burst int) *tokenLimiter {
	return &tokenLimiter{limit: limit, burst: burst, buckets: map[string]*bucket{}}
}

// reserve takes one request from key's bucket, or says how long until one
// is available.
func (l *tokenLimiter) reserve(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > idleBucketTTL {
		for k, b := range l.buckets {
			if now.Sub(b.lastSeen) > idleBucketTTL {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	r := b.limiter.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Hour
	}
	delay := r.DelayFrom(now)
	if delay == 0 {
		return true, 0
	}
	// Give the token back: a refused request must not use up the next one.
	r.CancelAt(now)
	return false, delay
}

// rateLimit answers 429 with Retry-After (whole seconds, at least 1) once
// the authenticated token has used up its bucket. It runs after
// authenticate, so unauthenticated requests never create buckets.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := currentPrincipal(c)
		key := "token:" + p.TokenID
		if p.Admin {
			key = "admin"
		}
		ok, wait := s.limiter.reserve(key, time.Now())
		if !ok {
			wait = max(wait, time.Second)
			return &Error{Status: http.StatusTooManyRequests, RetryAfter: wait,
				Message: "rate limit exceeded for this token; retry after " +
					strconv.FormatInt(httperror.RetryAfterSeconds(wait), 10) + " s"}
		}
		return next(c)
	}
}
