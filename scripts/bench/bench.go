package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/scripts/internal/natsproc"
	"github.com/pbxhooks/pbxhooks/scripts/internal/pbxsim"
	"github.com/pbxhooks/pbxhooks/scripts/internal/procstat"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/scripts/internal/testbed"
	"github.com/pbxhooks/pbxhooks/testkit/pgcluster"
)

// bench is one benchmark session: one deployment, one receiver, the hooks
// made so far (by fan-out), and the totals used for whole-run figures.
type bench struct {
	s       settings
	log     *slog.Logger
	root    string
	workDir string
	logPath string
	logFile *os.File
	tb      *testbed.Testbed
	recv    *pbxsim.Receiver
	// setups caches the accounts made for a fan-out, so the latency runs
	// reuse the fan-out 1 hooks.
	setups map[int][]string
	// tuples0 is PostgreSQL's write count at the start, for the whole-run
	// figure.
	tuples0 int64
	runSeq  int
}

func newBench(ctx context.Context, s settings, wd string, log *slog.Logger) (_ *bench, err error) {
	root, err := stack.RepoRoot(wd)
	if err != nil {
		return nil, err
	}
	workDir, err := os.MkdirTemp("", "pbxbench-")
	if err != nil {
		return nil, err
	}
	// The private PostgreSQL runs as the postgres user when we are root; it
	// must be able to enter the directory.
	if err := os.Chmod(workDir, 0o755); err != nil {
		return nil, err
	}
	b := &bench{s: s, log: log, root: root, workDir: workDir, setups: map[int][]string{}}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	b.logPath = filepath.Join(workDir, "services.log")
	if b.logFile, err = os.Create(b.logPath); err != nil {
		return nil, err
	}
	binDir := filepath.Join(workDir, "bin")
	log.Info("building services and nats-server", "dir", binDir)
	if err := testbed.BuildAll(ctx, root, binDir); err != nil {
		return nil, err
	}
	log.Info("starting NATS, PostgreSQL and the four services", "work_dir", workDir)
	b.tb, err = testbed.Start(ctx, testbed.Options{
		BinDir: binDir, WorkDir: filepath.Join(workDir, "run"), DatabaseURL: s.DatabaseURL, Log: b.logFile,
		PGDurable:  !s.PGNoSync,
		PGSettings: statementStatsSettings(),
		Env:        []string{"DELIVERER_WORKERS=" + strconv.Itoa(s.Workers), "DELIVERY_MAX_PER_ENDPOINT=" + strconv.Itoa(s.PerEndpoint)},
		ServiceEnv: pprofEnv(s.PprofDeliverer, s.PprofBase),
	})
	if err != nil {
		return nil, err
	}
	if b.recv, err = pbxsim.NewReceiver(pbxsim.ReceiverOptions{SlowDelay: time.Second}); err != nil {
		return nil, err
	}
	b.tuples0, _ = b.tupleWrites(ctx)
	if b.tb.PG != nil {
		if _, err := b.tb.DB.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			log.Warn("pg_stat_statements unavailable; no statement figures", "error", err)
		}
	}
	return b, nil
}

func (b *bench) close() {
	if b.recv != nil {
		b.recv.Close()
	}
	if b.tb != nil {
		b.tb.Close()
	}
	if b.logFile != nil {
		_ = b.logFile.Close()
	}
	if !b.s.KeepWorkDir && b.workDir != "" {
		// Keep the logs, drop the stores (they can be gigabytes).
		_ = os.RemoveAll(filepath.Join(b.workDir, "run"))
		_ = os.RemoveAll(filepath.Join(b.workDir, "bin"))
	}
}

// runID names one measured run, so its event ids never repeat.
func (b *bench) runID(what string) string {
	b.runSeq++
	return fmt.Sprintf("%s%d-%x", what, b.runSeq, time.Now().UnixNano()&0xffffffff)
}

// accountsFor creates (once) s.Accounts accounts with fanOut hooks each,
// all pointing at the receiver's 200 path, and proves the matcher knows
// them with one warm-up event per account.
func (b *bench) accountsFor(ctx context.Context, fanOut, n int, prefix string) ([]string, error) {
	if acc, ok := b.setups[fanOut]; ok && prefix == "" {
		return acc, nil
	}
	if prefix == "" {
		prefix = fmt.Sprintf("bench-f%d", fanOut)
	}
	var accounts []string
	for a := range n {
		account := fmt.Sprintf("%s-a%d", prefix, a)
		accounts = append(accounts, account)
		for h := range fanOut {
			if _, err := b.tb.CreateHook(ctx, account, testbed.HookSpec{
				Name: fmt.Sprintf("h%d", h), URI: b.recv.URL(pbxsim.OK, account), Retries: 2,
			}); err != nil {
				return nil, err
			}
		}
	}
	if err := b.warmUp(ctx, accounts, fanOut); err != nil {
		return nil, err
	}
	if prefix == fmt.Sprintf("bench-f%d", fanOut) {
		b.setups[fanOut] = accounts
	}
	return accounts, nil
}

// warmUp publishes one call (three events) per account and waits until all
// their deliveries are recorded: the hook cache is loaded and connections
// are open before anything is timed.
func (b *bench) warmUp(ctx context.Context, accounts []string, fanOut int) error {
	ledger := pbxsim.NewLedger(b.runID("warm"), accounts, 3*len(accounts))
	pub := &pbxsim.Publisher{NC: b.tb.NC, RetryFor: 10 * time.Second}
	if err := pub.Run(ctx, ledger); err != nil {
		return err
	}
	want := int64(len(ledger.SentAt) * fanOut)
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return testbed.WaitFor(waitCtx, 100*time.Millisecond, "warm-up deliveries", func() (bool, error) {
		n, err := b.countRun(ctx, ledger)
		return n >= want, err
	})
}

// countRun counts the distinct successful deliveries of a run's events in
// the attempts table.
func (b *bench) countRun(ctx context.Context, ledger *pbxsim.Ledger) (int64, error) {
	var n int64
	err := b.tb.DB.QueryRow(ctx, `SELECT count(DISTINCT delivery_id) FROM attempts
		WHERE account_id = ANY($1) AND result = 'success' AND event_id LIKE $2`,
		ledger.Accounts, ledger.RunID+"-%").Scan(&n)
	return n, err
}

// waitDelivered polls until want success rows beyond base exist for
// accounts and the receiver answered want 2xx beyond recvBase, or the
// deadline passes (then complete is false). It returns when that happened.
func (b *bench) waitDelivered(ctx context.Context, accounts []string, base int64, recvBase int64, want int64, deadline time.Duration) (time.Time, bool, error) {
	waitCtx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var done time.Time
	err := testbed.WaitFor(waitCtx, 50*time.Millisecond, "deliveries", func() (bool, error) {
		// The receiver's count first: counting attempt rows costs
		// PostgreSQL CPU that would be charged to the pipeline, so the
		// rows are counted only once every callback has arrived.
		if b.recv.Successes()-recvBase < want {
			return false, nil
		}
		n, err := b.tb.CountSuccessRows(ctx, accounts)
		if err != nil {
			return false, err
		}
		if n-base >= want {
			done = time.Now()
			return true, nil
		}
		return false, nil
	})
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return time.Now(), false, nil
	}
	return done, err == nil, err
}

// processes names every process whose cost is charged.
func (b *bench) processes() map[string]int {
	out := map[string]int{}
	for _, svc := range stack.Services {
		for i, p := range b.tb.Stack.Processes[svc] {
			name := svc
			if i > 0 {
				name = fmt.Sprintf("%s-%d", svc, i)
			}
			out[name] = p.Pid()
		}
	}
	if pid := b.tb.NATS.Pid(0); pid != 0 {
		out["nats-server"] = pid
	}
	if b.tb.PG != nil {
		if pid, err := pgcluster.PostmasterPID(b.tb.PG.DataDir()); err == nil {
			out["postgres"] = pid
		}
	}
	return out
}

type costSnapshot map[string]procstat.Sample

func (b *bench) snapshot() costSnapshot {
	out := costSnapshot{}
	for name, pid := range b.processes() {
		read := procstat.Read
		if name == "postgres" {
			read = procstat.Tree
		}
		if s, err := read(pid); err == nil {
			out[name] = s
		}
	}
	return out
}

// costBetween charges each process the CPU it used between two snapshots.
func costBetween(before, after costSnapshot, deliveries int64) map[string]processCost {
	out := map[string]processCost{}
	for name, a := range after {
		s0, ok := before[name]
		if !ok {
			continue
		}
		cpu := a.CPUSeconds - s0.CPUSeconds
		c := processCost{CPUSeconds: round(cpu, 2), PeakRSSMB: round(float64(a.HWMBytes)/(1<<20), 1), RSSMB: round(float64(a.RSSBytes)/(1<<20), 1)}
		if deliveries > 0 {
			c.CPUSecondsPer1000 = round(cpu/float64(deliveries)*1000, 3)
		}
		out[name] = c
	}
	return out
}

func (b *bench) varz(ctx context.Context) natsproc.Varz {
	v, err := b.tb.NATS.ReadVarz(ctx, 0)
	if err != nil {
		b.log.Warn("read NATS /varz", "error", err)
	}
	return v
}

func (b *bench) streamState(ctx context.Context, name string) jetstream.StreamState {
	st, err := b.tb.JS.Stream(ctx, name)
	if err != nil {
		b.log.Warn("stream info", "stream", name, "error", err)
		return jetstream.StreamState{}
	}
	info, err := st.Info(ctx)
	if err != nil {
		b.log.Warn("stream info", "stream", name, "error", err)
		return jetstream.StreamState{}
	}
	return info.State
}

// tupleWrites is PostgreSQL's count of rows inserted, updated and deleted
// in the pbxhooks database. The statistics lag the work by up to a few
// seconds, so the figure is taken over the whole run.
func (b *bench) tupleWrites(ctx context.Context) (int64, error) {
	var n int64
	err := b.tb.DB.QueryRow(ctx, `SELECT coalesce(tup_inserted + tup_updated + tup_deleted, 0)
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	return n, err
}

func (b *bench) tupleWritesPerDelivery(ctx context.Context) float64 {
	n, err := b.tupleWrites(ctx)
	if err != nil {
		return 0
	}
	var deliveries int64
	if err := b.tb.DB.QueryRow(ctx, `SELECT count(DISTINCT delivery_id) FROM attempts WHERE result = 'success'`).Scan(&deliveries); err != nil || deliveries == 0 {
		return 0
	}
	return round(float64(n-b.tuples0)/float64(deliveries), 2)
}

// latencies returns publish-to-callback times of a run's first 2xx
// callbacks, in milliseconds.
func latencies(calls []pbxsim.Call, ledger *pbxsim.Ledger) []float64 {
	seen := map[string]bool{}
	var out []float64
	for _, c := range calls {
		if c.Status != 200 || seen[c.WebhookID] {
			continue
		}
		i, ok := ledger.Index(c.EventID())
		if !ok {
			continue
		}
		seen[c.WebhookID] = true
		out = append(out, float64(c.At.UnixNano()-ledger.SentAt[i])/1e6)
	}
	return out
}

func percentiles(ms []float64) latencyFigures {
	if len(ms) == 0 {
		return latencyFigures{}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return round(s[min(max(i, 0), len(s)-1)], 1)
	}
	return latencyFigures{Count: len(s), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: round(s[len(s)-1], 1)}
}

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if v >= 0 {
		return float64(int64(v*p+0.5)) / p
	}
	return -float64(int64(-v*p+0.5)) / p
}

// purgeDeadBacklog empties the isolation run's dead endpoint's queue, on
// DELIVERIES and parked, so later runs do not inherit it. Only that endpoint
// is parked by then (the healthy one has received everything).
func (b *bench) purgeDeadBacklog(ctx context.Context, deliveriesSubject string) error {
	deliveries, err := b.tb.JS.Stream(ctx, bus.StreamDeliveries)
	if err != nil {
		return err
	}
	if err := deliveries.Purge(ctx, jetstream.WithPurgeSubject(deliveriesSubject)); err != nil {
		return err
	}
	parked, err := b.tb.JS.Stream(ctx, bus.StreamParked)
	if err != nil {
		return err
	}
	return parked.Purge(ctx)
}

// pprofEnv serves the services' profiles: every one from base on when base
// is set, the deliverer on delivererAddr when given.
func pprofEnv(delivererAddr string, base int) map[string][]string {
	out := map[string][]string{}
	if base > 0 {
		for i, svc := range []string{"api", "ingest", "matcher", "deliverer"} {
			out[svc] = []string{"PPROF_ADDR=127.0.0.1:" + strconv.Itoa(base+i)}
		}
	}
	if delivererAddr != "" {
		out["deliverer"] = []string{"PPROF_ADDR=" + delivererAddr}
	}
	return out
}

// pgStatement is one line of pg_stat_statements over the whole run.
type pgStatement struct {
	Query       string  `json:"query"`
	Calls       int64   `json:"calls"`
	TotalMS     float64 `json:"total_exec_ms"`
	MeanMS      float64 `json:"mean_exec_ms"`
	Rows        int64   `json:"rows"`
	WALBytes    int64   `json:"wal_bytes"`
	PerDelivery float64 `json:"calls_per_delivery"`
}

// topStatements are the statements that took the most execution time in
// the pbxhooks database, when pg_stat_statements is loaded.
func (b *bench) topStatements(ctx context.Context) []pgStatement {
	var deliveries int64
	_ = b.tb.DB.QueryRow(ctx, `SELECT count(*) FROM attempts WHERE result = 'success'`).Scan(&deliveries)
	rows, err := b.tb.DB.Query(ctx, `SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 160), calls,
		total_exec_time, mean_exec_time, rows, wal_bytes::bigint
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = current_database() ORDER BY total_exec_time DESC LIMIT 12`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []pgStatement
	for rows.Next() {
		var st pgStatement
		if err := rows.Scan(&st.Query, &st.Calls, &st.TotalMS, &st.MeanMS, &st.Rows, &st.WALBytes); err != nil {
			return out
		}
		st.TotalMS, st.MeanMS = round(st.TotalMS, 1), round(st.MeanMS, 3)
		if deliveries > 0 {
			st.PerDelivery = round(float64(st.Calls)/float64(deliveries), 3)
		}
		out = append(out, st)
	}
	return out
}

// pgDurability reports fsync and synchronous_commit as the server runs.
func (b *bench) pgDurability(ctx context.Context) string {
	var fsync, syncCommit string
	if err := b.tb.DB.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &syncCommit); err != nil {
		return "unknown: " + err.Error()
	}
	return "fsync=" + fsync + " synchronous_commit=" + syncCommit
}

// statementStatsSettings preloads pg_stat_statements when the installed
// server has it (Debian ships it with the server): a missing preload library
// would stop the private cluster from starting.
func statementStatsSettings() map[string]string {
	bin, err := pgcluster.BinDir()
	if err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(bin), "lib", "pg_stat_statements.so")); err != nil {
		return nil
	}
	return map[string]string{"shared_preload_libraries": "pg_stat_statements"}
}
