// Package endpoint isolates customer endpoints from one another. Each
// endpoint (scheme, host and port) has a cap on requests in flight and a
// circuit breaker. A delivery whose endpoint is at its cap, or whose breaker
// is open, is told how long to wait, and the deliverer hands it back to
// JetStream with that delay. So a worker is never parked on a slow
// endpoint, and an endpoint that hangs for 30 s with a 10,000-delivery
// backlog holds at most its cap of workers while every other endpoint's
// deliveries flow.
//
// The one exception is a fast endpoint (its recent requests took under
// fastEndpoint, and one finished lately): there a slot frees within
// milliseconds, so AdmitWaiting lets a delivery wait for one (at most
// SlotWait). Handing such a delivery back to JetStream instead would
// throttle a healthy endpoint to a fraction of what it can take, and churn
// redeliveries. An endpoint that stops finishing requests stops being fast
// at once, so its waiters give up and later deliveries are handed back.
//
// Breaker: Failures consecutive failures open it for Cooldown; then it is
// half-open and lets exactly one probe through; the probe's success closes
// it, its failure opens it for another Cooldown. A delivery turned away by
// the gate is not an attempt: it consumes none of the hook's retries and
// writes no attempt row, because our own protection must not burn the
// customer's retries.
package endpoint

import (
	"context"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for Config.
const (
	DefaultMaxInFlight = 8
	// DefaultFailures is above the default auto-disable count (6 within
	// 60 s), so a hook whose endpoint fails fast is disabled, as Kazoo
	// would, before the breaker starts holding its deliveries back; the
	// breaker protects endpoints shared by many hooks.
	DefaultFailures = 10
	DefaultCooldown = 30 * time.Second
	// DefaultBusyDelay is the first wait of a delivery whose endpoint is at
	// its cap: short, since a slot frees as soon as one request ends.
	DefaultBusyDelay = time.Second
	// maxBusyDelay bounds the busy wait after repeated turn-aways.
	maxBusyDelay = 30 * time.Second
	// fastEndpoint is the smoothed request time under which an endpoint at
	// its cap is worth waiting for instead of turning deliveries away.
	fastEndpoint = 250 * time.Millisecond
	// DefaultSlotWait bounds one delivery's wait for a slot of a fast
	// endpoint.
	DefaultSlotWait = 100 * time.Millisecond
	// stuckAfter is the least time without a finished request after which
	// a saturated endpoint no longer counts as fast.
	stuckAfter = 20 * time.Millisecond
	// fastBusyDelay is the first hand-back delay for a fast endpoint.
	fastBusyDelay = 100 * time.Millisecond
	// maxRememberedEndpoints bounds the idle endpoints whose request times
	// are kept; past it idle healthy endpoints are forgotten.
	maxRememberedEndpoints = 10_000
)

// Config tunes a Gate.
type Config struct {
	// MaxInFlight caps concurrent requests per endpoint.
	MaxInFlight int
	// Failures is how many consecutive failures open the breaker.
	Failures int
	// Cooldown is how long the breaker stays open.
	Cooldown time.Duration
	// BusyDelay is the first wait when the endpoint is at its cap; it
	// doubles with each turn-away of the same delivery, up to 30 s.
	BusyDelay time.Duration
	// SlotWait bounds how long AdmitWaiting waits for a slot of a fast
	// endpoint (DefaultSlotWait).
	SlotWait time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Rand returns a number in [0, 1) for jitter; rand.Float64 when nil.
	Rand func() float64
}

// Gate admits requests per endpoint.
type Gate struct {
	cfg Config

	mu        sync.Mutex
	endpoints map[string]*state
}

type state struct {
	inFlight  int
	failures  int // consecutive
	openUntil time.Time
	probing   bool // the half-open probe is in flight
	// latency is the smoothed request time (an EWMA over the last ~8
	// requests); zero until one request finished.
	latency time.Duration
	// lastDone is when a request to it last finished.
	lastDone time.Time
	// freed is closed when a slot frees, waking AdmitWaiting's waiters.
	freed   chan struct{}
	waiters int
}

// fast reports whether a delivery should wait for a slot of this endpoint:
// its breaker is closed, its requests are quick, and (when every slot is
// taken) one finished within a few request times, so it is not stuck.
func (s *state) fast(now time.Time, maxInFlight int) bool {
	if !s.openUntil.IsZero() || s.latency <= 0 || s.latency > fastEndpoint {
		return false
	}
	return s.inFlight < maxInFlight || now.Sub(s.lastDone) <= max(4*s.latency, stuckAfter)
}

func (s *state) wakeWaiters() {
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

// NewGate returns a gate with defaults for zero fields.
func NewGate(cfg Config) *Gate {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Failures <= 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = DefaultCooldown
	}
	if cfg.BusyDelay <= 0 {
		cfg.BusyDelay = DefaultBusyDelay
	}
	if cfg.SlotWait <= 0 {
		cfg.SlotWait = DefaultSlotWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	return &Gate{cfg: cfg, endpoints: map[string]*state{}}
}

// Key names the endpoint of rawURL: lowercased scheme and host plus the
// port, explicit or implied by the scheme.
func Key(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		default:
			port = "80"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// Ticket is an admitted request; Done must be called exactly once.
type Ticket struct {
	gate    *Gate
	key     string
	probe   bool
	started time.Time
}

// Admit lets a request to the endpoint key through, or says how long to wait
// before asking again. It never blocks. turnedAway is how often this
// delivery was turned away before (an upper bound will do): the busy wait
// doubles with it, so a large backlog behind a saturated endpoint settles
// into a slow trickle of redeliveries instead of a storm that would crowd
// out other endpoints' deliveries on the consumer.
func (g *Gate) Admit(key string, turnedAway int) (*Ticket, time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.admitLocked(key, turnedAway)
}

// AdmitWaiting is Admit, except that a delivery to a fast endpoint at its
// cap waits (at most SlotWait, and only while the endpoint stays fast) for a
// slot to free before it is turned away. Slow, failing or unknown endpoints never make a
// worker wait.
func (g *Gate) AdmitWaiting(ctx context.Context, key string, turnedAway int) (*Ticket, time.Duration, bool) {
	var deadline time.Time
	for {
		g.mu.Lock()
		ticket, wait, ok := g.admitLocked(key, turnedAway)
		s := g.endpoints[key]
		now := time.Now()
		if ok || s == nil || !s.fast(g.cfg.Now(), g.cfg.MaxInFlight) || (!deadline.IsZero() && !now.Before(deadline)) {
			g.mu.Unlock()
			return ticket, wait, ok
		}
		if deadline.IsZero() {
			deadline = now.Add(g.cfg.SlotWait)
		}
		if s.freed == nil {
			s.freed = make(chan struct{})
		}
		freed := s.freed
		s.waiters++
		g.mu.Unlock()

		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-freed:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		g.mu.Lock()
		s.waiters--
		g.mu.Unlock()
		if ctx.Err() != nil {
			return nil, wait, false
		}
	}
}

func (g *Gate) admitLocked(key string, turnedAway int) (*Ticket, time.Duration, bool) {
	now := g.cfg.Now()
	s := g.endpoints[key]
	if s == nil {
		s = &state{}
		g.endpoints[key] = s
	}
	probe := false
	if !s.openUntil.IsZero() {
		if now.Before(s.openUntil) {
			// Spread the wake-ups over a tenth of the cooldown so the
			// backlog does not return all at once.
			return nil, s.openUntil.Sub(now) + g.jitter(g.cfg.Cooldown/10), false
		}
		if s.probing {
			return nil, g.busyDelay(g.cfg.BusyDelay, turnedAway), false
		}
		probe = true
	}
	if s.inFlight >= g.cfg.MaxInFlight {
		base := g.cfg.BusyDelay
		if s.fast(now, g.cfg.MaxInFlight) {
			base = min(base, fastBusyDelay)
		}
		return nil, g.busyDelay(base, turnedAway), false
	}
	s.inFlight++
	s.probing = s.probing || probe
	return &Ticket{gate: g, key: key, probe: probe, started: now}, 0, true
}

// Release frees the slot of a request that was not sent after all; the
// breaker learns nothing from it (a half-open breaker admits a new probe).
func (t *Ticket) Release() {
	g := t.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.endpoints[t.key]
	s.inFlight--
	if t.probe {
		s.probing = false
	}
	s.wakeWaiters()
	g.forgetIfIdle(t.key, s)
}

// Done releases the slot and feeds the breaker: endpointFailed says the
// endpoint did not answer usefully (connection error, timeout, 5xx, 429).
func (t *Ticket) Done(endpointFailed bool) {
	g := t.gate
	now := g.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.endpoints[t.key]
	s.inFlight--
	if t.probe {
		s.probing = false
	}
	s.lastDone = now
	if took := now.Sub(t.started); s.latency == 0 {
		s.latency = max(took, time.Microsecond)
	} else {
		s.latency += (took - s.latency) / 8
	}
	s.wakeWaiters()
	switch {
	case !endpointFailed:
		s.failures = 0
		if t.probe || (!s.openUntil.IsZero() && !now.Before(s.openUntil)) {
			s.openUntil = time.Time{}
		}
	default:
		s.failures++
		if t.probe || (s.openUntil.IsZero() && s.failures >= g.cfg.Failures) {
			s.openUntil = now.Add(g.cfg.Cooldown)
		}
	}
	g.forgetIfIdle(t.key, s)
}

// forgetIfIdle drops a healthy idle endpoint once many are remembered, so
// the map stays bounded while recently used endpoints keep their request
// times.
func (g *Gate) forgetIfIdle(key string, s *state) {
	if s.inFlight == 0 && s.waiters == 0 && s.failures == 0 && s.openUntil.IsZero() && len(g.endpoints) > maxRememberedEndpoints {
		delete(g.endpoints, key)
	}
}

// Open reports whether the breaker of key is open (not yet half-open).
func (g *Gate) Open(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.endpoints[key]
	return s != nil && !s.openUntil.IsZero() && g.cfg.Now().Before(s.openUntil)
}

// busyDelay is base doubled per earlier turn-away, capped, plus up to as
// much again in jitter.
func (g *Gate) busyDelay(base time.Duration, turnedAway int) time.Duration {
	d := min(base<<min(max(turnedAway, 0), 16), max(maxBusyDelay, base))
	return d + g.jitter(d)
}

func (g *Gate) jitter(spread time.Duration) time.Duration {
	return time.Duration(float64(spread) * g.cfg.Rand())
}
