package bus_test

import (
	"slices"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestEnsureStreamsIsIdempotent(t *testing.T) {
	t.Parallel()
	// testenv.JetStream has already run EnsureStreams once.
	_, _, js := testenv.JetStream(t)
	ctx := t.Context()
	if _, err := js.Publish(ctx, "events.acct.call.incoming_call.ringing", []byte("kept")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	for range 2 {
		if err := bus.EnsureStreams(ctx, js, bus.DefaultStreamOptions()); err != nil {
			t.Fatalf("EnsureStreams again: %v", err)
		}
	}

	var names []string
	for name := range js.StreamNames(ctx).Name() {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{bus.StreamDeadLetter, bus.StreamDeliveries, bus.StreamEvents, bus.StreamHookChanges, bus.StreamParked, bus.StreamPBX}
	if !slices.Equal(names, want) {
		t.Fatalf("streams = %v, want %v", names, want)
	}
	for _, cfg := range bus.StreamConfigs(bus.DefaultStreamOptions()) {
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			t.Fatalf("stream %s: %v", cfg.Name, err)
		}
		got := s.CachedInfo().Config
		if !slices.Equal(got.Subjects, cfg.Subjects) || got.Retention != cfg.Retention || (cfg.Duplicates != 0 && got.Duplicates != cfg.Duplicates) {
			t.Errorf("stream %s config drifted: %+v", cfg.Name, got)
		}
	}
	// Updating must not have purged what was stored.
	events, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if n := events.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("EVENTS holds %d messages after EnsureStreams, want 1", n)
	}
}
