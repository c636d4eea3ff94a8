// Command bench measures pbxhooks on this machine: the four services as
// separate processes, a nats-server process and PostgreSQL, driven by the
// PBX simulator and answered by the simulated endpoint of
// scripts/internal/pbxsim, all on 127.0.0.1. It prints a table and writes
// the same figures as JSON under bench/results/.
//
//	go run ./scripts/bench            # full run (make bench)
//	go run ./scripts/bench -short     # under two minutes (make bench-short)
//	go run ./scripts/bench -scenarios latency,limit
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// scenarioNames are what -scenarios accepts. cost is measured during the
// throughput runs; latency and limit need the fan-out 1 throughput figure,
// so selecting them runs that one throughput run too.
var scenarioNames = []string{"idle", "throughput", "latency", "cost", "limit", "isolation", "backlog", "fairness"}

type settings struct {
	Short            bool          `json:"short"`
	Scenarios        []string      `json:"scenarios"`
	FanOuts          []int         `json:"fan_outs"`
	Accounts         int           `json:"accounts"`
	Deliveries       int           `json:"deliveries_per_throughput_run"`
	LatencyDuration  time.Duration `json:"latency_duration_ns"`
	LatencyRate      float64       `json:"latency_rate_below_saturation"`
	IsolationBacklog int           `json:"isolation_backlog"`
	IsolationRate    float64       `json:"isolation_healthy_rate"`
	FairnessBurst    int           `json:"fairness_burst"`
	FairnessRate     float64       `json:"fairness_quiet_rate"`
	BacklogEvents    int           `json:"backlog_events"`
	Workers          int           `json:"deliverer_workers"`
	PerEndpoint      int           `json:"deliverer_max_per_endpoint"`
	DatabaseURL      string        `json:"-"`
	OutDir           string        `json:"-"`
	KeepWorkDir      bool          `json:"-"`
	PprofDeliverer   string        `json:"-"`
	PprofBase        int           `json:"-"`
	PGNoSync         bool          `json:"pg_fsync_off"`
}

func main() {
	var s settings
	var scenarios, fanOuts string
	flag.BoolVar(&s.Short, "short", false, "small sizes: the whole run finishes in under two minutes")
	flag.StringVar(&scenarios, "scenarios", "all", "comma-separated: "+strings.Join(scenarioNames, ",")+" or all")
	flag.StringVar(&fanOuts, "fanouts", "1,10,100", "hooks per account for the throughput runs")
	flag.IntVar(&s.Accounts, "accounts", 4, "accounts per throughput run (events go round-robin)")
	flag.IntVar(&s.Deliveries, "deliveries", 0, "deliveries per throughput run (default 3,000 short, 60,000 full)")
	flag.DurationVar(&s.LatencyDuration, "latency-duration", 0, "length of each latency and isolation run (default 5s short, 30s full)")
	flag.Float64Var(&s.LatencyRate, "latency-rate", 1000, "offered events/s of the below-saturation latency run (capped at half the saturation rate)")
	flag.IntVar(&s.IsolationBacklog, "isolation-backlog", 0, "deliveries queued for the hanging endpoint (default 1,000 short, 10,000 full)")
	flag.Float64Var(&s.IsolationRate, "isolation-rate", 100, "offered events/s to the healthy endpoint during isolation")
	flag.IntVar(&s.FairnessBurst, "fairness-burst", 0, "events one account publishes at once in the fairness scenario (default 10,000)")
	flag.Float64Var(&s.FairnessRate, "fairness-rate", 0, "events/s of the quiet account in the fairness scenario (default 50)")
	flag.IntVar(&s.BacklogEvents, "backlog-events", 0, "events published while the deliverer is stopped (default 3,000 short, 1,000,000 full)")
	flag.IntVar(&s.Workers, "workers", 64, "DELIVERER_WORKERS")
	flag.IntVar(&s.PerEndpoint, "per-endpoint", 8, "DELIVERY_MAX_PER_ENDPOINT (requests in flight to one endpoint); the limit client uses min(workers, per-endpoint) connections")
	flag.StringVar(&s.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "an empty PostgreSQL database to use instead of a private cluster")
	flag.StringVar(&s.OutDir, "out", "", "directory for the JSON results (default <repo>/bench/results)")
	flag.BoolVar(&s.KeepWorkDir, "keep", false, "keep the work directory (logs, stores) after the run")
	flag.StringVar(&s.PprofDeliverer, "pprof-deliverer", "", "serve the deliverer's pprof on this address (e.g. 127.0.0.1:6061) to profile it during a run")
	flag.IntVar(&s.PprofBase, "pprof-base", 0, "serve every service's pprof on 127.0.0.1: api base, ingest base+1, matcher base+2, deliverer base+3")
	flag.BoolVar(&s.PGNoSync, "pg-nosync", false, "run the private PostgreSQL with fsync and synchronous_commit off (a labelled extra figure; production runs with them on)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "bench")
	if err := s.resolve(scenarios, fanOuts); err != nil {
		log.Error("bad flags", "error", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, log); err != nil {
		log.Error("bench failed", "error", err)
		os.Exit(1)
	}
}

func (s *settings) resolve(scenarios, fanOuts string) error {
	for name := range strings.SplitSeq(scenarios, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "all":
			s.Scenarios = slices.Clone(scenarioNames)
		case slices.Contains(scenarioNames, name):
			s.Scenarios = append(s.Scenarios, name)
		default:
			return fmt.Errorf("-scenarios: unknown scenario %q (want %s or all)", name, strings.Join(scenarioNames, ","))
		}
	}
	for f := range strings.SplitSeq(fanOuts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("-fanouts: %q is not a number of hooks between 1 and 1000", f)
		}
		s.FanOuts = append(s.FanOuts, n)
	}
	pick := func(v *int, short, full int) {
		if *v == 0 {
			*v = full
			if s.Short {
				*v = short
			}
		}
	}
	pick(&s.Deliveries, 3_000, 60_000)
	pick(&s.IsolationBacklog, 1_000, 10_000)
	pick(&s.BacklogEvents, 3_000, 1_000_000)
	pick(&s.FairnessBurst, 10_000, 10_000)
	if s.FairnessRate == 0 {
		s.FairnessRate = 50
	}
	if s.LatencyDuration == 0 {
		s.LatencyDuration = 30 * time.Second
		if s.Short {
			s.LatencyDuration = 5 * time.Second
		}
	}
	if s.FairnessBurst < 1 || s.FairnessRate <= 0 {
		return fmt.Errorf("-fairness-burst and -fairness-rate must be positive")
	}
	if s.Accounts < 1 || s.Workers < 1 || s.Deliveries < 1 || s.PerEndpoint < 1 {
		return fmt.Errorf("-accounts, -workers, -per-endpoint and -deliveries must be positive")
	}
	return nil
}

func (s settings) wants(name string) bool { return slices.Contains(s.Scenarios, name) }

func run(ctx context.Context, s settings, log *slog.Logger) error {
	started := time.Now()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	b, err := newBench(ctx, s, wd, log)
	if err != nil {
		return err
	}
	defer b.close()

	res := &results{Date: started.UTC().Format(time.RFC3339), Settings: s, Host: hostInfo(b.root)}
	res.Host.PGDurability = b.pgDurability(ctx)
	if s.wants("idle") {
		log.Info("idle run")
		r, err := b.idle(ctx)
		if err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		res.Idle = &r
	}
	needFanOut1 := s.wants("throughput") || s.wants("cost") || s.wants("latency") || s.wants("limit")
	if needFanOut1 {
		fanOuts := []int{1}
		if s.wants("throughput") || s.wants("cost") {
			fanOuts = s.FanOuts
		}
		for _, f := range fanOuts {
			log.Info("throughput run", "fan_out", f)
			r, err := b.throughput(ctx, f)
			if err != nil {
				return fmt.Errorf("throughput fan-out %d: %w", f, err)
			}
			res.Throughput = append(res.Throughput, r)
		}
	}
	if s.wants("limit") {
		log.Info("limit run")
		r, err := b.limit(ctx, res.throughputAt(1))
		if err != nil {
			return fmt.Errorf("limit: %w", err)
		}
		res.Limit = &r
		for i := range res.Throughput {
			res.Throughput[i].PipelineLimitRatio = res.Throughput[i].DeliveriesPerSec / r.CallbacksPerSec
		}
	}
	if s.wants("latency") {
		sat := res.throughputAt(1).EventsPerSec
		below := min(s.LatencyRate, sat/2)
		for _, rate := range []float64{below, sat} {
			log.Info("latency run", "rate", rate)
			r, err := b.latency(ctx, rate, rate == sat)
			if err != nil {
				return fmt.Errorf("latency at %.0f/s: %w", rate, err)
			}
			res.Latency = append(res.Latency, r)
		}
	}
	if s.wants("backlog") {
		log.Info("backlog run", "events", s.BacklogEvents)
		r, err := b.backlog(ctx)
		if err != nil {
			return fmt.Errorf("backlog: %w", err)
		}
		res.Backlog = &r
	}
	if s.wants("isolation") {
		log.Info("isolation run", "dead_backlog", s.IsolationBacklog)
		r, err := b.isolation(ctx)
		if err != nil {
			return fmt.Errorf("isolation: %w", err)
		}
		res.Isolation = &r
	}
	if s.wants("fairness") {
		log.Info("fairness run", "burst", s.FairnessBurst)
		r, err := b.fairness(ctx)
		if err != nil {
			return fmt.Errorf("fairness: %w", err)
		}
		res.Fairness = &r
	}
	res.PGTupleWritesPerDelivery = b.tupleWritesPerDelivery(ctx)
	res.PGStatements = b.topStatements(ctx)
	res.Host.LoadAtEnd = loadAverage()
	res.WallSeconds = time.Since(started).Seconds()
	res.WorkDir = b.workDir

	printTable(os.Stdout, res)
	out := s.OutDir
	if out == "" {
		out = filepath.Join(b.root, "bench", "results")
	}
	path, err := writeJSON(out, started, res)
	if err != nil {
		return err
	}
	fmt.Printf("\nresults: %s\nservice logs: %s\n", path, b.logPath)
	return nil
}
