package timeflag

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 30, 19, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-30T18:00:00Z", time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)},
		{"2026-11-30T18:00:00.5+01:00", time.Date(2026, 11, 30, 17, 0, 0, 5e8, time.UTC)},
		{"15m", now.Add(-15 * time.Minute)},
		{"2h30m", now.Add(-150 * time.Minute)},
		{"0s", now},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "2026-11-30", "18:00"} {
		if got, err := Parse(bad, now); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, got)
		}
	}
}
