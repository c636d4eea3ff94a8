package testenv

import (
	"testing"
	"time"
)

// Condition is what Eventually polls: a check that reports whether it holds,
// optionally with what it saw instead (printed when the wait times out, so
// a failure says how far things got).
type Condition interface {
	func() bool | func() (bool, string)
}

// pollInterval is the pause between checks; a check slower than that waits
// as long as it took, so an expensive check (an HTTP call, a query over
// many rows) never takes more than half the time it polls.
const pollInterval = 20 * time.Millisecond

// Eventually calls cond until it holds, and fails t (naming what it waited
// for, and cond's last state) when it still does not once within has passed
// or t's context ended. It is how tests wait for something asynchronous
// instead of sleeping a fixed time. A caller that must go on after a
// timeout runs it in a subtest.
func Eventually[C Condition](t testing.TB, within time.Duration, what string, cond C) {
	t.Helper()
	check := func() (bool, string) {
		switch c := any(cond).(type) {
		case func() bool:
			return c(), ""
		case func() (bool, string):
			return c()
		}
		panic("unreachable: Condition has two shapes")
	}
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		start := time.Now()
		ok, state := check()
		if ok {
			return
		}
		pause := max(pollInterval, time.Since(start))
		select {
		case <-deadline.C:
			if state == "" {
				t.Fatalf("timed out after %s waiting for %s", within, what)
			}
			t.Fatalf("timed out after %s waiting for %s; last state: %s", within, what, state)
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting for %s: %v", what, t.Context().Err())
		case <-time.After(pause):
		}
	}
}
