package deliver

import (
	"math/rand/v2"
	"time"
)

// RetrySchedule says how long to wait before the next attempt after a failed
// one. The delay is persisted by JetStream itself: a failed delivery is
// nak'ed with that delay, so the wait survives a deliverer restart.
type RetrySchedule struct {
	// Steps[i] is the delay after failed attempt i+1.
	Steps []time.Duration
	// Then is the delay after every attempt past the steps.
	Then time.Duration
	// Jitter is the largest fraction added to a delay (0.1 = up to +10%),
	// so endpoints recovering from an outage are not hit by every retry at
	// once. It never shortens a delay.
	Jitter float64
	// Rand returns a number in [0, 1); rand.Float64 when nil.
	Rand func() float64
}

// DefaultRetrySchedule is 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then hourly,
// each plus up to 10%.
func DefaultRetrySchedule() RetrySchedule {
	return RetrySchedule{
		Steps:  []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour},
		Then:   time.Hour,
		Jitter: 0.1,
	}
}

// Delay returns the wait after failed attempt number attempt (1-based).
func (s RetrySchedule) Delay(attempt int) time.Duration {
	base := s.Then
	if attempt >= 1 && attempt <= len(s.Steps) {
		base = s.Steps[attempt-1]
	}
	if s.Jitter <= 0 || base <= 0 {
		return base
	}
	random := s.Rand
	if random == nil {
		random = rand.Float64
	}
	return base + time.Duration(float64(base)*s.Jitter*random())
}
