package deliver

import (
	"testing"
	"time"
)

func TestDefaultRetryScheduleWithoutJitter(t *testing.T) {
	t.Parallel()
	s := DefaultRetrySchedule()
	s.Rand = func() float64 { return 0 }
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i, w := range want {
		if got := s.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func TestJitterOnlyAddsAtMostTenPercent(t *testing.T) {
	t.Parallel()
	s := DefaultRetrySchedule()
	for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
		s.Rand = func() float64 { return r }
		for attempt := 1; attempt <= 8; attempt++ {
			base := DefaultRetrySchedule().Steps[min(attempt, 6)-1]
			got := s.Delay(attempt)
			if got < base || got > base+base/10 {
				t.Errorf("rand %v: Delay(%d) = %s, want within [%s, %s]", r, attempt, got, base, base+base/10)
			}
		}
	}
	// The real random source stays in bounds too.
	s.Rand = nil
	for range 100 {
		if got := s.Delay(1); got < 5*time.Second || got > 5500*time.Millisecond {
			t.Fatalf("Delay(1) = %s, outside [5s, 5.5s]", got)
		}
	}
}
