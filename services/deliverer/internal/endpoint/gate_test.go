package endpoint

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }

func newTestGate(c *clock) *Gate {
	return NewGate(Config{MaxInFlight: 2, Failures: 3, Cooldown: 30 * time.Second, BusyDelay: time.Second,
		Now: c.Now, Rand: func() float64 { return 0 }})
}

func TestKey(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://Example.com/x?y=1":     "https://example.com:443",
		"http://example.com/":           "http://example.com:80",
		"http://example.com:8080/a":     "http://example.com:8080",
		"HTTPS://[2001:db8::1]:8443/ok": "https://2001:db8::1:8443",
	} {
		if got := Key(raw); got != want {
			t.Errorf("Key(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestCapTurnsAwayWithoutBlocking(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	a, _, ok1 := g.Admit("e", 0)
	_, _, ok2 := g.Admit("e", 0)
	_, wait, ok3 := g.Admit("e", 0)
	if !ok1 || !ok2 || ok3 || wait != time.Second {
		t.Fatalf("admissions = %v %v %v (wait %s), want the third turned away for 1s", ok1, ok2, ok3, wait)
	}
	if _, _, ok := g.Admit("other", 0); !ok {
		t.Fatal("another endpoint was turned away")
	}
	a.Done(false)
	if _, _, ok := g.Admit("e", 0); !ok {
		t.Fatal("a freed slot was not reusable")
	}
}

func TestBusyDelayDoublesPerTurnAwayUpToACap(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	g.Admit("e", 0)
	g.Admit("e", 0)
	for turnedAway, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 3: 8 * time.Second, 10: 30 * time.Second, 1000: 30 * time.Second} {
		if _, wait, ok := g.Admit("e", turnedAway); ok || wait != want {
			t.Errorf("turned away %d times: wait %s (admitted %v), want %s", turnedAway, wait, ok, want)
		}
	}
}

func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	fail := func() {
		t.Helper()
		tk, _, ok := g.Admit("e", 0)
		if !ok {
			t.Fatal("not admitted")
		}
		tk.Done(true)
	}
	fail()
	fail()
	if g.Open("e") {
		t.Fatal("open after 2 failures, threshold is 3")
	}
	fail()
	if !g.Open("e") {
		t.Fatal("not open after 3 consecutive failures")
	}
	if _, wait, ok := g.Admit("e", 0); ok || wait != 30*time.Second {
		t.Fatalf("admitted while open (wait %s)", wait)
	}
	c.advance(30 * time.Second)
	probe, _, ok := g.Admit("e", 0)
	if !ok {
		t.Fatal("no half-open probe after the cooldown")
	}
	if _, _, ok := g.Admit("e", 0); ok {
		t.Fatal("a second request admitted while the probe is in flight")
	}
	probe.Done(true) // the probe fails: open again
	if !g.Open("e") {
		t.Fatal("a failed probe did not reopen the breaker")
	}
	c.advance(30 * time.Second)
	probe, _, ok = g.Admit("e", 0)
	if !ok {
		t.Fatal("no probe after the second cooldown")
	}
	probe.Done(false)
	if g.Open("e") {
		t.Fatal("a successful probe did not close the breaker")
	}
	a, _, okA := g.Admit("e", 0)
	b, _, okB := g.Admit("e", 0)
	if !okA || !okB {
		t.Fatal("closed breaker does not admit up to the cap")
	}
	a.Done(false)
	b.Done(false)
}

func TestSuccessResetsConsecutiveFailures(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	for _, failed := range []bool{true, true, false, true, true} {
		tk, _, ok := g.Admit("e", 0)
		if !ok {
			t.Fatal("not admitted")
		}
		tk.Done(failed)
	}
	if g.Open("e") {
		t.Fatal("failures separated by a success opened the breaker")
	}
}

func TestReleasedProbeLetsAnotherProbeThrough(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	for range 3 {
		tk, _, _ := g.Admit("e", 0)
		tk.Done(true)
	}
	c.advance(time.Minute)
	probe, _, ok := g.Admit("e", 0)
	if !ok {
		t.Fatal("no probe")
	}
	probe.Release()
	if _, _, ok := g.Admit("e", 0); !ok {
		t.Fatal("a released probe blocked the next one")
	}
}

// TestAdmitWaitingWaitsOnlyForFastEndpoints: at the cap, a delivery to an
// endpoint whose requests take milliseconds waits for the next free slot; a
// delivery to an endpoint with no finished request yet (it may be hanging)
// is turned away at once, as is one beyond the cap's worth of waiters.
func TestAdmitWaitingWaitsOnlyForFastEndpoints(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	// Long enough that only a freed slot, never the deadline, ends a wait.
	g.cfg.SlotWait = time.Minute

	// An endpoint that has answered nothing in a second (it may be
	// hanging): no waiting, and troubled.
	a, _, _ := g.Admit("slow", 0)
	c.advance(time.Second)
	if adm := g.AdmitWaiting(t.Context(), "slow", 0); adm.Ticket != nil || adm.Wait != time.Second || !adm.Troubled {
		t.Fatalf("unknown endpoint silent for 1s: %+v, want turned away for 1s as troubled", adm)
	}
	a.Done(false)

	// Make "fast" known as fast: one request that took 2 ms.
	warm, _, _ := g.Admit("fast", 0)
	c.advance(2 * time.Millisecond)
	warm.Done(false)

	x, _, _ := g.Admit("fast", 0)
	y, _, _ := g.Admit("fast", 0)
	got := make(chan bool, 1)
	go func() {
		adm := g.AdmitWaiting(t.Context(), "fast", 0)
		if adm.Ticket != nil {
			adm.Ticket.Done(false)
		}
		got <- adm.Ticket != nil
	}()
	waitForWaiters(t, g, "fast", 1)
	x.Done(false)
	if !<-got {
		t.Fatal("a delivery waiting for a fast endpoint's slot was not admitted when one freed")
	}

	// Several waiters park on the saturated fast endpoint and are all let
	// through as slots free.
	z, _, _ := g.Admit("fast", 0)
	parked := make(chan bool, 3)
	for range 3 {
		go func() {
			adm := g.AdmitWaiting(t.Context(), "fast", 0)
			if adm.Ticket != nil {
				adm.Ticket.Done(false)
			}
			parked <- adm.Ticket != nil
		}()
	}
	waitForWaiters(t, g, "fast", 3)
	y.Done(false)
	for range 3 {
		if !<-parked {
			t.Fatal("a parked waiter was not admitted once slots freed")
		}
	}

	// Saturated and nothing finished for a second: the endpoint is stuck,
	// so a new delivery does not wait (not a minute, not at all) and is
	// handed back with the ordinary busy delay.
	stuck, _, _ := g.Admit("fast", 0)
	c.advance(time.Second)
	if adm := g.AdmitWaiting(t.Context(), "fast", 0); adm.Ticket != nil || adm.Wait != time.Second || !adm.Troubled {
		t.Fatalf("stuck endpoint: %+v, want turned away for 1s as troubled", adm)
	}
	z.Done(false)
	stuck.Done(false)
}

// TestNewEndpointIsOnProbation: the shared consumer sends a new endpoint
// one request at a time until it answers; the next delivery waits for that
// answer, then the endpoint, known fast, gets its whole cap.
func TestNewEndpointIsOnProbation(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	g.cfg.SlotWait = time.Minute
	first := g.AdmitWaiting(t.Context(), "new", 0)
	if first.Ticket == nil {
		t.Fatalf("first request to a new endpoint: %+v", first)
	}
	got := make(chan Admission, 1)
	go func() { got <- g.AdmitWaiting(t.Context(), "new", 0) }()
	waitForWaiters(t, g, "new", 1)
	c.advance(2 * time.Millisecond)
	first.Ticket.Done(false)
	second := <-got
	if second.Ticket == nil {
		t.Fatalf("delivery waiting for a new endpoint's first answer: %+v", second)
	}
	third := g.AdmitWaiting(t.Context(), "new", 0)
	if third.Ticket == nil {
		t.Fatalf("a fast endpoint's second slot: %+v", third)
	}
	second.Ticket.Done(false)
	third.Ticket.Done(false)

	// A new endpoint silent past the probation: the next delivery neither
	// waits nor is sent; it is troubled.
	hang := g.AdmitWaiting(t.Context(), "hang", 0)
	c.advance(300 * time.Millisecond)
	if adm := g.AdmitWaiting(t.Context(), "hang", 0); adm.Ticket != nil || !adm.Troubled {
		t.Fatalf("new endpoint silent for 300 ms: %+v, want troubled", adm)
	}
	hang.Ticket.Done(true)
}

// TestTroubledVerdict: a fast endpoint at its cap is busy (its deliveries
// stay on the shared queue); an open or half-open breaker makes it troubled
// (they move to its parked backlog).
func TestTroubledVerdict(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	g.cfg.SlotWait = time.Nanosecond
	warm, _, _ := g.Admit("e", 0)
	c.advance(2 * time.Millisecond)
	warm.Done(false)
	a, _, _ := g.Admit("e", 0)
	b, _, _ := g.Admit("e", 0)
	if adm := g.AdmitWaiting(t.Context(), "e", 0); adm.Ticket != nil || adm.Troubled {
		t.Fatalf("fast endpoint at its cap: %+v, want turned away as busy", adm)
	}
	a.Done(true)
	b.Done(true)
	last, _, _ := g.Admit("e", 0)
	last.Done(true) // third consecutive failure: open
	if adm := g.AdmitWaiting(t.Context(), "e", 0); adm.Ticket != nil || !adm.Troubled || adm.Wait != 30*time.Second {
		t.Fatalf("open breaker: %+v, want turned away for the cooldown as troubled", adm)
	}
	c.advance(30 * time.Second)
	probe := g.AdmitWaiting(t.Context(), "e", 0)
	if probe.Ticket == nil {
		t.Fatalf("half-open breaker admitted no probe: %+v", probe)
	}
	if adm := g.AdmitWaiting(t.Context(), "e", 0); adm.Ticket != nil || !adm.Troubled {
		t.Fatalf("half-open breaker with its probe in flight: %+v, want troubled", adm)
	}
	probe.Ticket.Done(false)
	if adm := g.AdmitWaiting(t.Context(), "e", 0); adm.Ticket == nil {
		t.Fatalf("closed breaker after a good probe: %+v", adm)
	}
}

// TestSlowEndpointIsTroubledWithSlotsFree: once an endpoint's requests take
// seconds, the shared consumer sends it nothing (its deliveries are parked),
// while its parked backlog is still admitted through Acquire.
func TestSlowEndpointIsTroubledWithSlotsFree(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	tk, _, _ := g.Admit("e", 0)
	c.advance(15 * time.Second) // timed out
	tk.Done(true)
	if adm := g.AdmitWaiting(t.Context(), "e", 0); adm.Ticket != nil || !adm.Troubled || adm.Wait != time.Second {
		t.Fatalf("endpoint whose request took 15 s: %+v, want turned away as troubled", adm)
	}
	parked, err := g.Acquire(t.Context(), "e")
	if err != nil {
		t.Fatalf("Acquire on a slow endpoint with free slots: %v", err)
	}
	parked.Done(false)
}

// TestMediumEndpointIsParkedOnlyWhenFull: an endpoint answering in half a
// second is served from the shared consumer while it has free slots; full,
// its deliveries are parked rather than handed back again and again.
func TestMediumEndpointIsParkedOnlyWhenFull(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	warm, _, _ := g.Admit("e", 0)
	c.advance(500 * time.Millisecond)
	warm.Done(false)
	a := g.AdmitWaiting(t.Context(), "e", 0)
	b := g.AdmitWaiting(t.Context(), "e", 0)
	if a.Ticket == nil || b.Ticket == nil {
		t.Fatalf("500 ms endpoint with free slots: %+v %+v, want both admitted", a, b)
	}
	if adm := g.AdmitWaiting(t.Context(), "e", 0); adm.Ticket != nil || !adm.Troubled {
		t.Fatalf("500 ms endpoint at its cap: %+v, want troubled", adm)
	}
	a.Ticket.Done(false)
	b.Ticket.Done(false)
}

// TestAcquireWaitsForTheBreakerAndForSlots: Acquire returns only once the
// endpoint can take a request, wakes when a slot frees, and gives up when
// its context ends.
func TestAcquireWaitsForTheBreakerAndForSlots(t *testing.T) {
	t.Parallel()
	// A real clock: Acquire sleeps until the breaker's cooldown ends.
	g := NewGate(Config{MaxInFlight: 1, Failures: 1, Cooldown: 200 * time.Millisecond, Rand: func() float64 { return 0 }})
	first, err := g.Acquire(t.Context(), "e")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Ticket, 1)
	go func() {
		tk, err := g.Acquire(t.Context(), "e")
		if err != nil {
			t.Errorf("Acquire: %v", err)
		}
		got <- tk
	}()
	waitForWaiters(t, g, "e", 1)
	opened := time.Now()
	first.Done(true) // opens the breaker for 200 ms
	probe := <-got
	if waited := time.Since(opened); waited < 200*time.Millisecond {
		t.Fatalf("Acquire admitted after %s, before the breaker's cooldown ended", waited)
	}
	if !probe.probe {
		t.Fatal("the ticket after the cooldown is not the half-open probe")
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := g.Acquire(ctx, "e")
		done <- err
	}()
	waitForWaiters(t, g, "e", 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire after cancel = %v, want context.Canceled", err)
	}
	probe.Done(false)
	tk, _, ok := g.Admit("e", 0)
	if !ok {
		t.Fatal("breaker still open after a good probe")
	}
	tk.Done(false)
}

func waitForWaiters(t *testing.T, g *Gate, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		s := g.endpoints[key]
		have := s != nil && s.waiters == n
		g.mu.Unlock()
		if have {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %d waiters on %s", n, key)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFullTableForgetsTheIdlestEndpoints: once the gate remembers
// maxRememberedEndpoints endpoints, a new one makes it forget those idle
// the longest, not the endpoint whose request just finished: a busy
// endpoint keeps its request times (it stays fast instead of falling back
// to probation), one whose breaker is open keeps its breaker, and stale
// ones do not stay forever.
func TestFullTableForgetsTheIdlestEndpoints(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Unix(1000, 0)}
	g := newTestGate(c)
	serve := func(key string, failed bool) {
		ticket, _, ok := g.Admit(key, 0)
		if !ok {
			t.Fatalf("%s turned away", key)
		}
		c.advance(time.Millisecond)
		ticket.Done(failed)
	}
	// An endpoint whose breaker opens first and stays open throughout.
	g.cfg.Cooldown = time.Hour
	for range g.cfg.Failures {
		serve("failing-long", true)
	}
	const stale = maxRememberedEndpoints + maxRememberedEndpoints/2
	for i := range stale {
		serve(fmt.Sprintf("stale-%d", i), false)
		// A busy endpoint answers between the others all along.
		if i%100 == 0 {
			serve("busy", false)
		}
	}
	// A request to a new endpoint is in flight when the busy endpoint's
	// next one finishes.
	pending, _, _ := g.Admit("new", 0)
	serve("busy", false)
	pending.Done(false)

	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(g.endpoints); n > maxRememberedEndpoints {
		t.Errorf("gate remembers %d endpoints, want at most %d", n, maxRememberedEndpoints)
	}
	if s := g.endpoints["busy"]; s == nil || s.latency == 0 {
		t.Errorf("the busy endpoint was forgotten (state %+v): it would be back on probation", s)
	}
	if s := g.endpoints["failing-long"]; s == nil || s.openUntil.IsZero() {
		t.Errorf("the endpoint with an open breaker was forgotten (state %+v)", s)
	}
	if _, ok := g.endpoints["stale-0"]; ok {
		t.Error("the endpoint idle the longest is still remembered")
	}
	if _, ok := g.endpoints[fmt.Sprintf("stale-%d", stale-1)]; !ok {
		t.Error("the endpoint used last was forgotten")
	}
}
