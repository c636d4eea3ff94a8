// Package endpoint isolates customer endpoints from one another. Each
// endpoint (scheme, host and port) has a cap on requests in flight and a
// circuit breaker, shared by the two ways a delivery reaches it:
//
//   - From the shared DELIVERIES consumer, AdmitWaiting admits requests to
//     endpoints known to answer within slowEndpoint, so those workers are
//     not held by an endpoint that hangs. It admits the delivery, or turns
//     it away with a wait and a verdict: Troubled when the endpoint is
//     failing (breaker open or half-open) or slow (its requests take over
//     slowEndpoint; or its slots are all taken and its requests take over
//     fastEndpoint, or nothing finished for fastEndpoint). The deliverer
//     moves a troubled endpoint's deliveries to its own parked backlog
//     instead of handing them back to the shared consumer, where re-fetching
//     them would delay every other endpoint.
//   - From an endpoint's parked backlog, Acquire blocks until the gate
//     admits a request, so that backlog is fetched only as fast as the
//     endpoint takes it: one probe per cooldown while its breaker is open,
//     nothing at all in between.
//
// A fast endpoint (its recent requests took under fastEndpoint, and one
// finished lately) at its cap is busy, not troubled: a slot frees within
// milliseconds, so AdmitWaiting lets a delivery wait for one (at most
// SlotWait) and otherwise hands it back with a short delay. An endpoint that
// stops finishing requests stops being fast at once.
//
// An endpoint with no finished request yet is on probation: the shared
// consumer sends it probationSlots requests at once, and deliveries beyond
// wait (at most SlotWait) for the first answer. So a burst of new endpoints
// that all hang holds one shared worker each, not the endpoint cap each.
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
	"slices"
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
	// slowEndpoint is the smoothed request time above which an endpoint is
	// troubled even with slots free: its requests are sent from its parked
	// backlog by the parked workers, so an endpoint answering in 30 s (or
	// timing out) holds none of the shared consumer's workers. Below it, an
	// endpoint slower than fastEndpoint is parked only when its cap is full.
	slowEndpoint = time.Second
	// probationSlots is how many requests the shared consumer sends at once
	// to an endpoint with no finished request yet.
	probationSlots = 1
	// DefaultSlotWait bounds one delivery's wait for a slot of a fast
	// endpoint.
	DefaultSlotWait = 100 * time.Millisecond
	// stuckAfter is the least time without a finished request after which
	// a saturated endpoint no longer counts as fast.
	stuckAfter = 20 * time.Millisecond
	// fastBusyDelay is the first hand-back delay for a fast endpoint.
	fastBusyDelay = 100 * time.Millisecond
	// maxRememberedEndpoints bounds the endpoints whose request times are
	// kept; past it the longest-idle endpoints are forgotten, a tenth at a
	// time (see forgetIdlest).
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
	// forgetAt is the endpoint count at which forgetIdlest next runs.
	forgetAt int
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
	// created is when the gate first admitted a request to it.
	created time.Time
	// lastSeen is when a delivery for it last asked the gate or a request
	// to it last ended: the idlest endpoints are forgotten first.
	lastSeen time.Time
	// freed is closed when a slot frees, waking AdmitWaiting's waiters.
	freed   chan struct{}
	waiters int
}

// fast reports whether the endpoint is known to answer quickly: its
// breaker is closed, its requests are quick, and (when its limit of slots
// is taken) one finished within a few request times, so it is not stuck.
func (s *state) fast(now time.Time, limit int) bool {
	if !s.openUntil.IsZero() || s.latency <= 0 || s.latency > fastEndpoint {
		return false
	}
	return s.inFlight < limit || now.Sub(s.lastDone) <= max(4*s.latency, stuckAfter)
}

// onProbation reports whether the endpoint has answered nothing yet and
// was first seen less than fastEndpoint ago: worth a brief wait for its
// first answer, not yet suspect.
func (s *state) onProbation(now time.Time) bool {
	return s.latency == 0 && now.Sub(s.created) <= fastEndpoint
}

// sharedLimit is how many requests the shared consumer may have in flight
// to the endpoint: the cap once it has answered, probationSlots before.
func (s *state) sharedLimit(maxInFlight int) int {
	if s.latency == 0 {
		return min(probationSlots, maxInFlight)
	}
	return maxInFlight
}

// troubled reports whether deliveries for the endpoint should leave the
// shared queue: its breaker is open or half-open, its requests take over
// slowEndpoint, or its limit of slots is taken and either its requests take
// over fastEndpoint or nothing has finished for fastEndpoint.
// A fast endpoint's brief stall (a GC pause, a busy machine) or a new
// endpoint's first moments are not trouble.
func (s *state) troubled(now time.Time, limit int) bool {
	if !s.openUntil.IsZero() || s.latency > slowEndpoint {
		return true
	}
	if s.inFlight < limit || s.fast(now, limit) {
		return false
	}
	if s.latency > fastEndpoint {
		// Full, and each slot frees only every few hundred milliseconds:
		// its backlog drains from its own consumer without redeliveries.
		return true
	}
	last := s.lastDone
	if last.IsZero() {
		last = s.created
	}
	return now.Sub(last) > fastEndpoint
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
	return &Gate{cfg: cfg, endpoints: map[string]*state{}, forgetAt: maxRememberedEndpoints}
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
	return g.admitLocked(key, turnedAway, g.cfg.MaxInFlight)
}

// Admission is AdmitWaiting's verdict: a Ticket when admitted, else how
// long to wait and whether the endpoint is troubled (failing or slow) rather
// than merely busy.
type Admission struct {
	Ticket   *Ticket
	Wait     time.Duration
	Troubled bool
}

// AdmitWaiting is the shared consumer's admission. It admits a request to
// an endpoint known to be fast (up to the cap) or on probation (up to
// probationSlots); at that limit a delivery waits at most SlotWait for a
// slot, and only while the endpoint stays fast or on probation. Otherwise
// it is turned away, Troubled when the endpoint is failing or slow.
func (g *Gate) AdmitWaiting(ctx context.Context, key string, turnedAway int) Admission {
	// slotWait ends SlotWait after the first wait for a slot began; nil
	// until then.
	var slotWait context.Context
	for {
		g.mu.Lock()
		now := g.cfg.Now()
		s := g.stateLocked(key, now)
		limit := s.sharedLimit(g.cfg.MaxInFlight)
		if s.latency > slowEndpoint {
			wait := g.busyDelay(g.cfg.BusyDelay, turnedAway)
			g.mu.Unlock()
			return Admission{Wait: wait, Troubled: true}
		}
		ticket, wait, ok := g.admitLocked(key, turnedAway, limit)
		worthWaiting := s.fast(now, limit) || s.onProbation(now)
		if ok || !worthWaiting || (slotWait != nil && slotWait.Err() != nil) {
			troubled := !ok && s.troubled(now, limit)
			g.mu.Unlock()
			return Admission{Ticket: ticket, Wait: wait, Troubled: troubled}
		}
		if slotWait == nil {
			var cancel context.CancelFunc
			slotWait, cancel = context.WithTimeout(ctx, g.cfg.SlotWait)
			defer cancel()
		}
		freed := s.awaitFree()
		g.mu.Unlock()
		g.waitForSlot(slotWait, s, freed, nil)
		if ctx.Err() != nil {
			return Admission{Wait: wait}
		}
	}
}

// Acquire blocks until the endpoint admits a request: a free slot while its
// breaker is closed, the probe when it is half-open. It is how a parked
// backlog is drained: fetch a delivery only once it can be sent. It fails
// only when ctx ends.
func (g *Gate) Acquire(ctx context.Context, key string) (*Ticket, error) {
	for {
		g.mu.Lock()
		ticket, wait, ok := g.admitLocked(key, 0, g.cfg.MaxInFlight)
		if ok {
			g.mu.Unlock()
			return ticket, nil
		}
		// The wait is the breaker's remaining cooldown, or a busy delay; a
		// freed slot or a finished probe wakes the waiter sooner.
		s := g.endpoints[key]
		freed := s.awaitFree()
		g.mu.Unlock()
		timer := time.NewTimer(wait)
		g.waitForSlot(ctx, s, freed, timer.C)
		timer.Stop()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// MaxInFlight is the per-endpoint cap.
func (g *Gate) MaxInFlight() int { return g.cfg.MaxInFlight }

// waitForSlot sleeps until freed is closed, timeout fires (nil: never) or
// ctx ends, then unregisters the waiter awaitFree registered. The wait is
// real time whatever Config.Now says: only a real timer ends a real wait.
func (g *Gate) waitForSlot(ctx context.Context, s *state, freed <-chan struct{}, timeout <-chan time.Time) {
	select {
	case <-freed:
	case <-timeout:
	case <-ctx.Done():
	}
	g.mu.Lock()
	s.waiters--
	g.mu.Unlock()
}

// awaitFree registers a waiter and returns the channel closed when a slot
// next frees. g.mu must be held; the caller decrements waiters when done.
func (s *state) awaitFree() <-chan struct{} {
	if s.freed == nil {
		s.freed = make(chan struct{})
	}
	s.waiters++
	return s.freed
}

// stateLocked returns the endpoint's state, made at first sight, and notes
// that it was asked for.
func (g *Gate) stateLocked(key string, now time.Time) *state {
	s := g.endpoints[key]
	if s == nil {
		if len(g.endpoints) >= g.forgetAt {
			g.forgetIdlest(now)
		}
		s = &state{created: now}
		g.endpoints[key] = s
	}
	s.lastSeen = now
	return s
}

// forgetIdlest bounds the table: it forgets the endpoints idle the longest
// until a tenth of maxRememberedEndpoints is free, so it runs once per that
// many new endpoints, not once per request. An endpoint with requests in
// flight or waiting, or with its breaker open, is never forgotten: its
// state is what protects the others from it. A forgotten endpoint seen
// again starts on probation.
func (g *Gate) forgetIdlest(now time.Time) {
	type idle struct {
		key      string
		lastSeen time.Time
	}
	var candidates []idle
	for key, s := range g.endpoints {
		if s.inFlight == 0 && s.waiters == 0 && (s.openUntil.IsZero() || !now.Before(s.openUntil)) {
			candidates = append(candidates, idle{key, s.lastSeen})
		}
	}
	keep := maxRememberedEndpoints - maxRememberedEndpoints/10
	excess := min(len(g.endpoints)-keep, len(candidates))
	if excess > 0 {
		slices.SortFunc(candidates, func(a, b idle) int { return a.lastSeen.Compare(b.lastSeen) })
		for _, c := range candidates[:excess] {
			delete(g.endpoints, c.key)
		}
	}
	// When too few could be forgotten, wait for another tenth of new
	// endpoints before looking again.
	g.forgetAt = max(len(g.endpoints), keep) + maxRememberedEndpoints/10
}

// admitLocked admits a request when the breaker allows and fewer than
// limit are in flight.
func (g *Gate) admitLocked(key string, turnedAway, limit int) (*Ticket, time.Duration, bool) {
	now := g.cfg.Now()
	s := g.stateLocked(key, now)
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
	if s.inFlight >= limit {
		base := g.cfg.BusyDelay
		if s.fast(now, limit) {
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
	s.lastSeen = now
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
