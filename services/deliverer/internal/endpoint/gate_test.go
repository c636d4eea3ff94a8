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
