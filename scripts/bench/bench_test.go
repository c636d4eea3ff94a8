package main

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEveryScenarioProducesFigures runs the whole benchmark at toy sizes, so
// CI proves `make bench` still works end to end: every scenario completes,
// every due delivery arrives, and the JSON report holds each section. It
// asserts counts and completeness, never speed.
func TestEveryScenarioProducesFigures(t *testing.T) {
	s := settings{
		Short: true, Accounts: 2, Deliveries: 120,
		LatencyDuration: time.Second, LatencyRate: 50, IsolationBacklog: 40, IsolationRate: 20,
		BacklogEvents: 100, FairnessBurst: 40, FairnessRate: 20, Workers: 64, PerEndpoint: 8, OutDir: t.TempDir(),
	}
	if err := s.resolve("all", "1,3"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	if err := run(t.Context(), s, log); err != nil {
		t.Fatalf("bench run: %v", err)
	}

	files, err := filepath.Glob(filepath.Join(s.OutDir, "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("want one JSON report in %s, got %v (%v)", s.OutDir, files, err)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var res results
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("report is not the results JSON: %v", err)
	}
	if len(res.Throughput) != 2 {
		t.Fatalf("throughput runs %d, want 2 (fan-out 1 and 3)", len(res.Throughput))
	}
	for _, r := range res.Throughput {
		if !r.Complete || r.Deliveries != 120 || r.DeliveriesPerSec <= 0 || r.AttemptRowsPerDelivery < 1 {
			t.Errorf("throughput fan-out %d: %+v", r.FanOut, r)
		}
		if len(r.Cost) == 0 {
			t.Errorf("throughput fan-out %d has no cost figures", r.FanOut)
		}
	}
	if res.Limit == nil || res.Limit.Failed != 0 || res.Limit.CallbacksPerSec <= 0 {
		t.Errorf("limit: %+v", res.Limit)
	}
	if len(res.Latency) != 2 {
		t.Errorf("latency runs %d, want 2", len(res.Latency))
	}
	for _, l := range res.Latency {
		if l.Delivered != l.Deliveries || l.Deliveries == 0 {
			t.Errorf("latency at %.0f/s delivered %d of %d", l.OfferedPerSec, l.Delivered, l.Deliveries)
		}
	}
	if i := res.Isolation; i == nil || i.WithoutDelivered != i.WithoutWant || i.WithDelivered != i.WithWant || i.WithWant == 0 {
		t.Errorf("isolation: %+v", res.Isolation)
	}
	if b := res.Backlog; b == nil || !b.Complete || b.Acked != 100 {
		t.Errorf("backlog: %+v", res.Backlog)
	}
	if i := res.Idle; i == nil || i.Seconds <= 0 || len(i.CPUPercent) == 0 {
		t.Errorf("idle: %+v", res.Idle)
	}
	if f := res.Fairness; f == nil || f.AloneWant == 0 || f.AloneDelivered != f.AloneWant ||
		f.DuringWant == 0 || f.DuringDelivered != f.DuringWant || !f.BurstComplete || f.Burst != 40 {
		t.Errorf("fairness: %+v", res.Fairness)
	}
}
