package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

type results struct {
	Date                     string             `json:"date"`
	Host                     host               `json:"host"`
	Settings                 settings           `json:"settings"`
	Idle                     *idleResult        `json:"idle,omitempty"`
	Throughput               []throughputResult `json:"throughput,omitempty"`
	Limit                    *limitResult       `json:"limit,omitempty"`
	Latency                  []latencyResult    `json:"latency,omitempty"`
	Backlog                  *backlogResult     `json:"backlog,omitempty"`
	Isolation                *isolationResult   `json:"isolation,omitempty"`
	Fairness                 *fairnessResult    `json:"fairness,omitempty"`
	PGTupleWritesPerDelivery float64            `json:"pg_tuple_writes_per_delivery_whole_run"`
	PGStatements             []pgStatement      `json:"pg_statements,omitempty"`
	WallSeconds              float64            `json:"wall_seconds"`
	WorkDir                  string             `json:"work_dir"`
}

type host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	CPUModel  string `json:"cpu_model"`
	Commit    string `json:"commit"`
	Dirty     bool   `json:"dirty_tree"`
	// LoadAtStart and LoadAtEnd are /proc/loadavg: on a shared machine a
	// rate means little without the load it was taken under.
	LoadAtStart  string `json:"load_at_start"`
	LoadAtEnd    string `json:"load_at_end"`
	PGDurability string `json:"pg_durability"`
}

// idleResult is the CPU each process used while nothing was sent.
type idleResult struct {
	Seconds float64 `json:"seconds"`
	// CPUPercent is CPU time over wall time, per process (100 = one core).
	CPUPercent map[string]float64 `json:"cpu_percent"`
}

type latencyFigures struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

type processCost struct {
	CPUSeconds        float64 `json:"cpu_seconds"`
	CPUSecondsPer1000 float64 `json:"cpu_seconds_per_1000_deliveries"`
	PeakRSSMB         float64 `json:"peak_rss_mb"`
	RSSMB             float64 `json:"rss_mb"`
}

type throughputResult struct {
	FanOut                 int                    `json:"fan_out"`
	Accounts               int                    `json:"accounts"`
	Events                 int                    `json:"events"`
	Deliveries             int64                  `json:"deliveries"`
	Acked                  int                    `json:"events_acked"`
	Complete               bool                   `json:"complete"`
	Seconds                float64                `json:"seconds"`
	DeliveriesPerSec       float64                `json:"deliveries_per_sec"`
	EventsPerSec           float64                `json:"events_per_sec"`
	PublishPerSec          float64                `json:"publish_acked_per_sec"`
	Latency                latencyFigures         `json:"latency"`
	Cost                   map[string]processCost `json:"cost"`
	AttemptRowsPerDelivery float64                `json:"attempt_rows_per_delivery"`
	NATSBytesPerDelivery   float64                `json:"nats_wire_bytes_per_delivery"`
	EventsBytesPerEvent    float64                `json:"events_stream_bytes_per_event"`
	PipelineLimitRatio     float64                `json:"pipeline_limit_ratio,omitempty"`
}

type limitResult struct {
	Callbacks                          int64   `json:"callbacks"`
	Failed                             int64   `json:"failed"`
	Concurrency                        int     `json:"concurrency"`
	Seconds                            float64 `json:"seconds"`
	CallbacksPerSec                    float64 `json:"callbacks_per_sec"`
	BodyBytes                          int     `json:"body_bytes"`
	ClientAndReceiverCPUSecondsPer1000 float64 `json:"client_and_receiver_cpu_seconds_per_1000"`
	// RoundsPerSec are every round's rates; the figures above are the
	// median round's.
	RoundsPerSec []float64 `json:"rounds_callbacks_per_sec"`
}

type latencyResult struct {
	OfferedPerSec float64        `json:"offered_events_per_sec"`
	Saturation    bool           `json:"at_saturation"`
	Seconds       float64        `json:"seconds"`
	Deliveries    int64          `json:"deliveries"`
	Delivered     int64          `json:"delivered"`
	Latency       latencyFigures `json:"latency"`
}

type isolationResult struct {
	HealthyRate      float64        `json:"healthy_events_per_sec"`
	DeadBacklog      int            `json:"dead_backlog"`
	Seconds          float64        `json:"seconds"`
	Without          latencyFigures `json:"healthy_without_dead"`
	WithoutDelivered int64          `json:"healthy_without_dead_delivered"`
	WithoutWant      int64          `json:"healthy_without_dead_due"`
	With             latencyFigures `json:"healthy_with_dead"`
	WithDelivered    int64          `json:"healthy_with_dead_delivered"`
	WithWant         int64          `json:"healthy_with_dead_due"`
	HangingRequests  int64          `json:"hanging_requests_at_start"`
	// Held: measured once the whole dead backlog was queued (parked or in
	// flight), for HeldSeconds.
	HeldSeconds       float64        `json:"held_seconds"`
	ParkedAtHeldStart uint64         `json:"parked_at_held_start"`
	Held              latencyFigures `json:"healthy_while_dead_backlog_held"`
	HeldDelivered     int64          `json:"healthy_while_dead_backlog_held_delivered"`
	HeldWant          int64          `json:"healthy_while_dead_backlog_held_due"`
}

// fairnessResult is the quiet account's publish-to-callback latency alone
// and while another account's burst passes the pipeline.
type fairnessResult struct {
	QuietRate       float64        `json:"quiet_events_per_sec"`
	Burst           int            `json:"burst_events"`
	Seconds         float64        `json:"seconds"`
	Alone           latencyFigures `json:"quiet_alone"`
	AloneDelivered  int64          `json:"quiet_alone_delivered"`
	AloneWant       int64          `json:"quiet_alone_due"`
	During          latencyFigures `json:"quiet_during_burst"`
	DuringDelivered int64          `json:"quiet_during_burst_delivered"`
	DuringWant      int64          `json:"quiet_during_burst_due"`
	// BurstSeconds is from the burst's first publish until its last
	// delivery was recorded.
	BurstSeconds  float64 `json:"burst_seconds"`
	BurstComplete bool    `json:"burst_complete"`
}

type backlogResult struct {
	Events                    int                    `json:"events"`
	Acked                     int                    `json:"acked"`
	PublishSeconds            float64                `json:"publish_seconds"`
	QueuedSeconds             float64                `json:"queued_seconds"`
	IntakePerSec              float64                `json:"intake_events_per_sec"`
	DrainSeconds              float64                `json:"drain_seconds"`
	Drained                   int64                  `json:"drained"`
	Complete                  bool                   `json:"complete"`
	DrainPerSec               float64                `json:"drain_deliveries_per_sec"`
	DeliveriesStoredBytesEach float64                `json:"deliveries_stream_bytes_per_delivery"`
	EventsStoredBytesEach     float64                `json:"events_stream_bytes_per_event"`
	IntakeCost                map[string]processCost `json:"intake_cost"`
	DrainCost                 map[string]processCost `json:"drain_cost"`
	DelivererRSSMBEverySecond []float64              `json:"deliverer_rss_mb_every_second"`
}

func (r *results) throughputAt(fanOut int) throughputResult {
	for _, t := range r.Throughput {
		if t.FanOut == fanOut {
			return t
		}
	}
	return throughputResult{}
}

func hostInfo(root string) host {
	h := host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAtStart: loadAverage()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				h.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		h.Commit = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", root, "status", "--porcelain", "--", "services", "pkg", "proto").Output(); err == nil {
		h.Dirty = len(strings.TrimSpace(string(out))) > 0
	}
	return h
}

func printFairness(w io.Writer, f *fairnessResult) {
	if f == nil {
		return
	}
	fmt.Fprintf(w, "\nFAIRNESS (quiet account at %.0f events/s, %.0f s; burst of %d events from another account)\tdelivered\tp50 ms\tp95 ms\tp99 ms\tmax ms\t\n", f.QuietRate, f.Seconds, f.Burst)
	fmt.Fprintf(w, "quiet account alone\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", f.AloneDelivered, f.AloneWant, f.Alone.P50, f.Alone.P95, f.Alone.P99, f.Alone.Max)
	fmt.Fprintf(w, "quiet account during the burst\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", f.DuringDelivered, f.DuringWant, f.During.P50, f.During.P95, f.During.P99, f.During.Max)
	fmt.Fprintf(w, "burst delivered in %.1f s (complete %v)\t\t\t\t\t\t\n", f.BurstSeconds, f.BurstComplete)
}

func printStatements(w io.Writer, st []pgStatement) {
	if len(st) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPOSTGRESQL (pg_stat_statements, whole run)\tcalls\tcalls/delivery\ttotal ms\tmean ms\trows\tWAL bytes\t")
	for _, s := range st {
		fmt.Fprintf(w, "%s\t%d\t%.3f\t%.1f\t%.3f\t%d\t%d\t\n", s.Query, s.Calls, s.PerDelivery, s.TotalMS, s.MeanMS, s.Rows, s.WALBytes)
	}
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func writeJSON(dir string, started time.Time, r *results) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, started.UTC().Format("2006-01-02T150405Z")+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

func printTable(w io.Writer, r *results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "pbxhooks bench %s  (%d CPUs, %s, commit %s%s)\n", r.Date, r.Host.CPUs, r.Host.GoVersion, r.Host.Commit, map[bool]string{true: " + local changes"}[r.Host.Dirty])
	fmt.Fprintf(tw, "PostgreSQL %s; load average at start %s, at end %s\n\n", r.Host.PGDurability, r.Host.LoadAtStart, r.Host.LoadAtEnd)
	defer printStatements(tw, r.PGStatements)
	defer printFairness(tw, r.Fairness)
	if r.Idle != nil {
		fmt.Fprintf(tw, "IDLE (%.0f s, no load)\tprocess\tCPU %%\t\n", r.Idle.Seconds)
		for _, name := range sortedKeys(r.Idle.CPUPercent) {
			fmt.Fprintf(tw, "\t%s\t%.2f\t\n", name, r.Idle.CPUPercent[name])
		}
		fmt.Fprintln(tw, "\t\t\t")
	}
	if len(r.Throughput) > 0 {
		fmt.Fprintln(tw, "THROUGHPUT\tfan-out\tdeliveries\tseconds\tdeliveries/s\tevents/s\tpipeline/limit\tp50 ms\tp99 ms\tattempt rows/delivery\tNATS wire B/delivery\t")
		for _, t := range r.Throughput {
			ratio := "-"
			if t.PipelineLimitRatio > 0 {
				ratio = fmt.Sprintf("%.3f", t.PipelineLimitRatio)
			}
			complete := ""
			if !t.Complete {
				complete = " (incomplete)"
			}
			fmt.Fprintf(tw, "\t%d\t%d%s\t%.2f\t%.0f\t%.0f\t%s\t%.1f\t%.1f\t%.2f\t%.0f\t\n", t.FanOut, t.Deliveries, complete, t.Seconds,
				t.DeliveriesPerSec, t.EventsPerSec, ratio, t.Latency.P50, t.Latency.P99, t.AttemptRowsPerDelivery, t.NATSBytesPerDelivery)
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t")
		fmt.Fprintln(tw, "COST (CPU s / 1000 deliveries, peak RSS MB)\tfan-out\tprocess\tCPU s\tCPU s/1000\tpeak RSS MB\t\t\t\t\t\t")
		for _, t := range r.Throughput {
			for _, name := range sortedKeys(t.Cost) {
				c := t.Cost[name]
				fmt.Fprintf(tw, "\t%d\t%s\t%.2f\t%.3f\t%.1f\t\t\t\t\t\t\n", t.FanOut, name, c.CPUSeconds, c.CPUSecondsPer1000, c.PeakRSSMB)
			}
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t")
	}
	if r.Limit != nil {
		l := r.Limit
		fmt.Fprintf(tw, "LIMIT (plain Go client, %d conns, keep-alive)\tcallbacks %d\t%.2f s\t%.0f/s (median of %v)\tfailed %d\tbody %d B\t\t\t\t\t\t\n\n",
			l.Concurrency, l.Callbacks, l.Seconds, l.CallbacksPerSec, l.RoundsPerSec, l.Failed, l.BodyBytes)
	}
	if len(r.Latency) > 0 {
		fmt.Fprintln(tw, "LATENCY publish->callback\toffered ev/s\tdelivered\tp50 ms\tp95 ms\tp99 ms\tmax ms\t\t\t\t\t")
		for _, l := range r.Latency {
			label := "below saturation"
			if l.Saturation {
				label = "at saturation"
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t\t\t\t\t\n", label, l.OfferedPerSec, l.Delivered, l.Deliveries,
				l.Latency.P50, l.Latency.P95, l.Latency.P99, l.Latency.Max)
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t")
	}
	if r.Isolation != nil {
		i := r.Isolation
		fmt.Fprintf(tw, "ISOLATION healthy at %.0f ev/s\tdead backlog\tdelivered\tp50 ms\tp95 ms\tp99 ms\tmax ms\t\t\t\t\t\n", i.HealthyRate)
		fmt.Fprintf(tw, "without dead endpoint\t0\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t\t\t\t\t\n", i.WithoutDelivered, i.WithoutWant, i.Without.P50, i.Without.P95, i.Without.P99, i.Without.Max)
		fmt.Fprintf(tw, "while the dead backlog is queued\t%d\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t\t\t\t\t\n", i.DeadBacklog, i.WithDelivered, i.WithWant, i.With.P50, i.With.P95, i.With.P99, i.With.Max)
		fmt.Fprintf(tw, "while it is held (%.0f s, %d parked)\t%d\t%d/%d\t%.1f\t%.1f\t%.1f\t%.1f\t\t\t\t\t\n\n", i.HeldSeconds, i.ParkedAtHeldStart, i.DeadBacklog, i.HeldDelivered, i.HeldWant, i.Held.P50, i.Held.P95, i.Held.P99, i.Held.Max)
	}
	if r.Backlog != nil {
		b := r.Backlog
		fmt.Fprintf(tw, "BACKLOG\tevents %d\tintake %.0f ev/s\tdrain %.0f/s\tdrained %d in %.1f s\tDELIVERIES %.0f B each\tEVENTS %.0f B each\t\t\t\t\t\n", b.Events, b.IntakePerSec, b.DrainPerSec, b.Drained, b.DrainSeconds, b.DeliveriesStoredBytesEach, b.EventsStoredBytesEach)
		for _, name := range sortedKeys(b.DrainCost) {
			in, d := b.IntakeCost[name], b.DrainCost[name]
			fmt.Fprintf(tw, "\t%s\tpeak RSS %.1f MB\tintake CPU %.1f s\tdrain CPU %.1f s\t\t\t\t\t\t\t\n", name, d.PeakRSSMB, in.CPUSeconds, d.CPUSeconds)
		}
		fmt.Fprintln(tw, "\t\t\t\t\t\t\t\t\t\t\t")
	}
	fmt.Fprintf(tw, "PostgreSQL tuple writes per delivery (whole run)\t%.2f\t\t\t\t\t\t\t\t\t\t\n", r.PGTupleWritesPerDelivery)
	fmt.Fprintf(tw, "wall time\t%.0f s\t\t\t\t\t\t\t\t\t\t\n", r.WallSeconds)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
