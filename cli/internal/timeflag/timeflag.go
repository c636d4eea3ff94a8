// Package timeflag reads the times commands take (--since, --until): an
// RFC 3339 time, or a duration before now, which is what people type.
package timeflag

import (
	"fmt"
	"time"
)

// Help describes the accepted forms, for flag usage strings.
const Help = "RFC 3339 (2026-11-30T18:00:00Z) or a duration ago (15m, 2h)"

// Parse reads an RFC 3339 time or a non-negative duration before now
// ("15m").
func Parse(value string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, value); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(value); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-30T18:00:00Z) nor a duration ago (15m)", value)
}
