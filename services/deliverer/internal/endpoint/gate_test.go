package endpoint

import (
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

	// Unknown endpoint at its cap: no waiting.
	a, _, _ := g.Admit("slow", 0)
	b, _, _ := g.Admit("slow", 0)
	if _, wait, ok := g.AdmitWaiting(t.Context(), "slow", 0); ok || wait != time.Second {
		t.Fatalf("unknown endpoint at cap: admitted=%v wait=%s, want turned away for 1s", ok, wait)
	}
	a.Done(false)
	b.Done(false)

	// Make "fast" known as fast: one request that took 2 ms.
	warm, _, _ := g.Admit("fast", 0)
	c.advance(2 * time.Millisecond)
	warm.Done(false)

	x, _, _ := g.Admit("fast", 0)
	y, _, _ := g.Admit("fast", 0)
	got := make(chan bool, 1)
	go func() {
		ticket, _, ok := g.AdmitWaiting(t.Context(), "fast", 0)
		if ok {
			ticket.Done(false)
		}
		got <- ok
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
			ticket, _, ok := g.AdmitWaiting(t.Context(), "fast", 0)
			if ok {
				ticket.Done(false)
			}
			parked <- ok
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
	if _, wait, ok := g.AdmitWaiting(t.Context(), "fast", 0); ok || wait != time.Second {
		t.Fatalf("stuck endpoint: admitted=%v wait=%s, want turned away for 1s", ok, wait)
	}
	z.Done(false)
	stuck.Done(false)
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
