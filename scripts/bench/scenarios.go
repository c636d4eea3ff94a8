package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/scripts/internal/pbxsim"
	"github.com/pbxhooks/pbxhooks/scripts/internal/procstat"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/scripts/internal/testbed"
)

// throughput publishes as fast as PubAcks allow until s.Deliveries
// deliveries are due, and times the run from the first publish to the
// moment the last delivery is both received and recorded.
func (b *bench) throughput(ctx context.Context, fanOut int) (throughputResult, error) {
	accounts, err := b.accountsFor(ctx, fanOut, b.s.Accounts, "")
	if err != nil {
		return throughputResult{}, err
	}
	events := max(b.s.Deliveries/fanOut, 1)
	want := int64(events * fanOut)
	ledger := pbxsim.NewLedger(b.runID(fmt.Sprintf("tp%d", fanOut)), accounts, events)
	b.recv.ResetRecords()
	base, err := b.tb.CountSuccessRows(ctx, accounts)
	if err != nil {
		return throughputResult{}, err
	}
	rows0, err := b.attemptRows(ctx)
	if err != nil {
		return throughputResult{}, err
	}
	cost0, varz0, events0 := b.snapshot(), b.varz(ctx), b.streamState(ctx, bus.StreamEvents)

	pub := &pbxsim.Publisher{NC: b.tb.NC, MaxInFlight: 512, RetryFor: 10 * time.Second}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(ctx, ledger) }()
	done, complete, err := b.waitDelivered(ctx, accounts, base, 0, want, b.deadlineFor(want))
	if err != nil {
		return throughputResult{}, err
	}
	if err := <-pubDone; err != nil {
		return throughputResult{}, err
	}
	cost1, varz1, events1 := b.snapshot(), b.varz(ctx), b.streamState(ctx, bus.StreamEvents)
	rows1, err := b.attemptRows(ctx)
	if err != nil {
		return throughputResult{}, err
	}
	elapsed := done.Sub(ledger.FirstSent()).Seconds()
	delivered := want
	if !complete {
		n, _ := b.tb.CountSuccessRows(ctx, accounts)
		delivered = n - base
	}
	r := throughputResult{
		FanOut: fanOut, Accounts: len(accounts), Events: events, Deliveries: want,
		Acked: ledger.Acked(), Complete: complete, Seconds: round(elapsed, 2),
		DeliveriesPerSec:       round(float64(delivered)/elapsed, 0),
		EventsPerSec:           round(float64(delivered)/float64(fanOut)/elapsed, 0),
		PublishPerSec:          round(float64(events)/ledger.LastAcked().Sub(ledger.FirstSent()).Seconds(), 0),
		Latency:                percentiles(latencies(b.recv.Calls(), ledger)),
		Cost:                   costBetween(cost0, cost1, delivered),
		AttemptRowsPerDelivery: round(float64(rows1-rows0)/float64(max(delivered, 1)), 3),
		NATSBytesPerDelivery:   round(float64((varz1.InBytes-varz0.InBytes)+(varz1.OutBytes-varz0.OutBytes))/float64(max(delivered, 1)), 0),
		EventsBytesPerEvent:    round(float64(events1.Bytes-events0.Bytes)/float64(events), 0),
	}
	return r, nil
}

// deadlineFor bounds a wait for n deliveries: generous (50 per second, a
// tenth of anything seen) but finite.
func (b *bench) deadlineFor(n int64) time.Duration {
	return 30*time.Second + time.Duration(n/50)*time.Second
}

func (b *bench) attemptRows(ctx context.Context) (int64, error) {
	var n int64
	err := b.tb.DB.QueryRow(ctx, `SELECT count(*) FROM attempts`).Scan(&n)
	return n, err
}

// latency offers a fixed rate to the fan-out 1 accounts for
// s.LatencyDuration and reports publish-to-callback percentiles.
func (b *bench) latency(ctx context.Context, rate float64, saturation bool) (latencyResult, error) {
	accounts, err := b.accountsFor(ctx, 1, b.s.Accounts, "")
	if err != nil {
		return latencyResult{}, err
	}
	figures, delivered, want, err := b.offer(ctx, accounts, rate, b.s.LatencyDuration, "lat", time.Minute)
	if err != nil {
		return latencyResult{}, err
	}
	return latencyResult{
		OfferedPerSec: round(rate, 0), Saturation: saturation, Seconds: b.s.LatencyDuration.Seconds(),
		Deliveries: want, Delivered: delivered, Latency: figures,
	}, nil
}

// offer publishes rate events/s to accounts for d and waits for their
// deliveries; it returns the latency percentiles of what was delivered.
// Deliveries still missing after wait are reported as not delivered.
func (b *bench) offer(ctx context.Context, accounts []string, rate float64, d time.Duration, what string, wait time.Duration) (latencyFigures, int64, int64, error) {
	events := max(int(rate*d.Seconds()), 1)
	ledger := pbxsim.NewLedger(b.runID(what), accounts, events)
	b.recv.ResetRecords()
	base, err := b.tb.CountSuccessRows(ctx, accounts)
	if err != nil {
		return latencyFigures{}, 0, 0, err
	}
	pub := &pbxsim.Publisher{NC: b.tb.NC, Rate: rate, MaxInFlight: 1024, RetryFor: 10 * time.Second}
	if err := pub.Run(ctx, ledger); err != nil {
		return latencyFigures{}, 0, 0, err
	}
	want := int64(events)
	_, complete, err := b.waitDelivered(ctx, accounts, base, 0, want, wait)
	if err != nil {
		return latencyFigures{}, 0, 0, err
	}
	delivered := want
	if !complete {
		n, _ := b.tb.CountSuccessRows(ctx, accounts)
		delivered = n - base
	}
	return percentiles(latencies(b.recv.Calls(), ledger)), delivered, want, nil
}

// limitRounds is how many times the limit loop runs; the median round is
// reported, since one sub-second round is at the mercy of a shared machine.
const limitRounds = 3

// limit sends as many callbacks as the fan-out 1 throughput run delivered,
// to the same receiver, from a plain HTTP client loop with the deliverer's
// concurrency towards one endpoint (min of workers and the per-endpoint
// bound) and keep-alive: what this machine can do with no broker and no
// database in the way.
func (b *bench) limit(ctx context.Context, pipeline throughputResult) (limitResult, error) {
	var rounds []limitResult
	for range limitRounds {
		r, err := b.limitRound(ctx, pipeline)
		if err != nil {
			return r, err
		}
		rounds = append(rounds, r)
	}
	slices.SortFunc(rounds, func(a, b limitResult) int { return cmp.Compare(a.CallbacksPerSec, b.CallbacksPerSec) })
	median := rounds[len(rounds)/2]
	for _, r := range rounds {
		median.RoundsPerSec = append(median.RoundsPerSec, r.CallbacksPerSec)
	}
	return median, nil
}

func (b *bench) limitRound(ctx context.Context, pipeline throughputResult) (limitResult, error) {
	n := pipeline.Deliveries
	body, header := b.recv.Sample()
	if body == nil {
		return limitResult{}, fmt.Errorf("no callback seen yet to copy")
	}
	conns := min(b.s.Workers, b.s.PerEndpoint)
	transport := &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 15 * time.Second}
	url := b.recv.URL(pbxsim.OK, "limit")
	b.recv.ResetRecords()
	cost0 := procstat.Sample{}
	if self, err := procstat.Read(os.Getpid()); err == nil {
		cost0 = self
	}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > n || ctx.Err() != nil {
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				req.Header.Set("Content-Type", header.Get("Content-Type"))
				req.Header.Set("User-Agent", header.Get("User-Agent"))
				req.Header.Set("webhook-id", "limit-"+strconv.FormatInt(i, 10)+":h")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	r := limitResult{Callbacks: n, Failed: failed.Load(), Concurrency: conns, Seconds: round(elapsed, 3),
		CallbacksPerSec: round(float64(n)/elapsed, 0), BodyBytes: len(body)}
	if self, err := procstat.Read(os.Getpid()); err == nil {
		// The client and the receiver share this process.
		r.ClientAndReceiverCPUSecondsPer1000 = round((self.CPUSeconds-cost0.CPUSeconds)/float64(n)*1000, 3)
	}
	return r, nil
}

// isolation measures the healthy endpoint's latency at a steady rate, then
// queues s.IsolationBacklog deliveries for an endpoint that never answers
// and measures the healthy endpoint again while that backlog is worked.
func (b *bench) isolation(ctx context.Context) (isolationResult, error) {
	healthy, err := b.accountsFor(ctx, 1, 1, "iso-ok")
	if err != nil {
		return isolationResult{}, err
	}
	// The dead endpoint is another customer's: another host:port, so the
	// deliverer's per-endpoint bounds tell them apart.
	deadRecv, err := pbxsim.NewReceiver(pbxsim.ReceiverOptions{CountOnly: true})
	if err != nil {
		return isolationResult{}, err
	}
	defer deadRecv.Close()
	const deadAccount = "iso-dead"
	deadHook, err := b.tb.CreateHook(ctx, deadAccount, testbed.HookSpec{Name: "dead", URI: deadRecv.URL(pbxsim.Hang, deadAccount), Retries: 2})
	if err != nil {
		return isolationResult{}, err
	}
	// The dead customer's hook stays enabled (its account allows 1,000
	// failures a minute), so its backlog is held for the whole run instead
	// of being written off as "not sent" once auto-disable switches it off.
	failureCount := 1000
	settings, err := b.tb.API.UpdateDeliverySettingsWithResponse(ctx, deadAccount, apiclient.DeliverySettingsPatchRequest{
		Data: apiclient.DeliverySettingsPatch{AttemptFailureCount: &failureCount},
	})
	if err == nil && settings.JSON200 == nil {
		err = fmt.Errorf("HTTP %d: %.300s", settings.StatusCode(), settings.Body)
	}
	if err != nil {
		return isolationResult{}, fmt.Errorf("keep the dead hook enabled: %w", err)
	}
	rate := b.s.IsolationRate
	without, deliveredA, wantA, err := b.offer(ctx, healthy, rate, b.s.LatencyDuration, "isoA", b.isolationWait())
	if err != nil {
		return isolationResult{}, err
	}

	deadLedger := pbxsim.NewLedger(b.runID("dead"), []string{deadAccount}, b.s.IsolationBacklog)
	pub := &pbxsim.Publisher{NC: b.tb.NC, MaxInFlight: 512, RetryFor: 10 * time.Second}
	if err := pub.Run(ctx, deadLedger); err != nil {
		return isolationResult{}, err
	}
	// The dead endpoint is being worked once requests hang on it.
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = waitForCtx(waitCtx, func() bool { return deadRecv.Active() > 0 })
	cancel()
	if err != nil {
		return isolationResult{}, fmt.Errorf("no request reached the hanging endpoint: %w", err)
	}
	hangingAtStart := deadRecv.Active()
	// While the backlog is still being queued, the healthy account's events
	// share ingest's and the matcher's queues with it.
	with, deliveredB, wantB, err := b.offer(ctx, healthy, rate, b.s.LatencyDuration, "isoB", b.isolationWait())
	if err != nil {
		return isolationResult{}, err
	}
	// Then the dead endpoint holds its backlog: every dead delivery has
	// been queued and waits for the endpoint, and the healthy endpoint is
	// measured again, for long enough that the dead endpoint's breaker
	// reaches half-open and probes at least once meanwhile.
	waitCtx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	err = waitForCtx(waitCtx, func() bool { return b.pipelineIdle(ctx) })
	cancel()
	if err != nil {
		return isolationResult{}, fmt.Errorf("the dead backlog was never fully queued: %w", err)
	}
	parked := b.streamState(ctx, bus.StreamParked).Msgs
	heldFor := b.isolationHeldDuration()
	held, deliveredC, wantC, err := b.offer(ctx, healthy, rate, heldFor, "isoC", b.isolationWait())
	if err != nil {
		return isolationResult{}, err
	}
	r := isolationResult{
		HealthyRate: rate, DeadBacklog: b.s.IsolationBacklog, Seconds: b.s.LatencyDuration.Seconds(),
		Without: without, WithoutDelivered: deliveredA, WithoutWant: wantA,
		With: with, WithDelivered: deliveredB, WithWant: wantB,
		HangingRequests: hangingAtStart,
		HeldSeconds:     heldFor.Seconds(), ParkedAtHeldStart: parked,
		Held: held, HeldDelivered: deliveredC, HeldWant: wantC,
	}
	// Leave nothing behind for a later run: the dead hook and its queue go.
	if err := b.tb.DeleteHook(ctx, deadAccount, deadHook); err != nil {
		b.log.Warn("delete dead hook", "error", err)
	}
	if err := b.purgeDeadBacklog(ctx, "deliveries."+deadAccount+".>"); err != nil {
		b.log.Warn("purge dead backlog", "error", err)
	}
	return r, nil
}

// isolationHeldDuration is how long the healthy endpoint is measured while
// the dead one holds its backlog: in the full run longer than two of the
// deliverer's default breaker cooldowns (30 s), so the window sees the dead
// endpoint's half-open probes.
func (b *bench) isolationHeldDuration() time.Duration {
	if b.s.Short {
		return b.s.LatencyDuration
	}
	return max(b.s.LatencyDuration, 75*time.Second)
}

// pipelineIdle reports whether everything published has passed ingest and
// the matcher, and the deliverer has fetched every queued delivery at least
// once (sent it, or parked it).
func (b *bench) pipelineIdle(ctx context.Context) bool {
	if b.streamState(ctx, bus.StreamPBX).Msgs != 0 {
		return false
	}
	matcher, err := b.consumerInfo(ctx, bus.StreamEvents, bus.ConsumerMatcher)
	if err != nil || matcher.NumPending != 0 || matcher.NumAckPending != 0 {
		return false
	}
	deliverer, err := b.consumerInfo(ctx, bus.StreamDeliveries, bus.ConsumerDeliverer)
	return err == nil && deliverer.NumPending == 0
}

func (b *bench) consumerInfo(ctx context.Context, stream, name string) (*jetstream.ConsumerInfo, error) {
	cons, err := b.tb.JS.Consumer(ctx, stream, name)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// isolationWait bounds how long the healthy endpoint's deliveries are
// awaited after the load: what has not arrived by then counts as not
// delivered (the short mode's two-minute budget decides it).
func (b *bench) isolationWait() time.Duration {
	if b.s.Short {
		return 10 * time.Second
	}
	return time.Minute
}

// backlog restarts every service (so peak memory is the backlog's), stops
// the deliverer, publishes s.BacklogEvents events with fan-out 1, waits for
// the matcher to queue every delivery, then starts the deliverer and times
// the drain.
func (b *bench) backlog(ctx context.Context) (backlogResult, error) {
	accounts, err := b.accountsFor(ctx, 1, b.s.Accounts, "backlog")
	if err != nil {
		return backlogResult{}, err
	}
	for _, svc := range stack.Services {
		if err := b.tb.StopService(svc, 0); err != nil {
			return backlogResult{}, err
		}
		if svc == "deliverer" {
			continue
		}
		if err := b.tb.RestartService(ctx, svc, 0); err != nil {
			return backlogResult{}, err
		}
	}
	n := b.s.BacklogEvents
	ledger := pbxsim.NewLedger(b.runID("backlog"), accounts, n)
	base, err := b.tb.CountSuccessRows(ctx, accounts)
	if err != nil {
		return backlogResult{}, err
	}
	deliveries0 := b.streamState(ctx, bus.StreamDeliveries)
	events0 := b.streamState(ctx, bus.StreamEvents)
	cost0 := b.snapshot()
	pub := &pbxsim.Publisher{NC: b.tb.NC, MaxInFlight: 1024, RetryFor: 30 * time.Second}
	start := time.Now()
	if err := pub.Run(ctx, ledger); err != nil {
		return backlogResult{}, err
	}
	published := time.Since(start)
	waitCtx, cancel := context.WithTimeout(ctx, b.deadlineFor(int64(n)))
	err = waitForCtx(waitCtx, func() bool {
		return b.streamState(ctx, bus.StreamDeliveries).Msgs >= deliveries0.Msgs+uint64(ledger.Acked())
	})
	cancel()
	if err != nil {
		return backlogResult{}, fmt.Errorf("matcher did not queue the backlog: %w", err)
	}
	queued := time.Since(start)
	queuedState := b.streamState(ctx, bus.StreamDeliveries)
	events1 := b.streamState(ctx, bus.StreamEvents)
	intake := costBetween(cost0, b.snapshot(), int64(n))

	if err := b.tb.RestartService(ctx, "deliverer", 0); err != nil {
		return backlogResult{}, err
	}
	drainCost0 := b.snapshot()
	drainStart := time.Now()
	var rssSeries []float64
	pid := b.tb.Process("deliverer", 0).Pid()
	waitCtx, cancel = context.WithTimeout(ctx, b.deadlineFor(int64(n)))
	lastSample := time.Time{}
	err = waitForCtx(waitCtx, func() bool {
		if time.Since(lastSample) >= time.Second {
			if s, err := procstat.Read(pid); err == nil {
				rssSeries = append(rssSeries, round(float64(s.RSSBytes)/(1<<20), 1))
			}
			lastSample = time.Now()
		}
		c, err := b.tb.CountSuccessRows(ctx, accounts)
		return err == nil && c-base >= int64(ledger.Acked())
	})
	cancel()
	drained := time.Since(drainStart)
	complete := err == nil
	c, _ := b.tb.CountSuccessRows(ctx, accounts)
	drainCost := costBetween(drainCost0, b.snapshot(), c-base)
	r := backlogResult{
		Events: n, Acked: ledger.Acked(), PublishSeconds: round(published.Seconds(), 1),
		QueuedSeconds: round(queued.Seconds(), 1), DrainSeconds: round(drained.Seconds(), 1),
		Drained: c - base, Complete: complete,
		DrainPerSec:               round(float64(c-base)/drained.Seconds(), 0),
		IntakePerSec:              round(float64(n)/queued.Seconds(), 0),
		DeliveriesStoredBytesEach: round(float64(queuedState.Bytes-deliveries0.Bytes)/float64(max(queuedState.Msgs-deliveries0.Msgs, 1)), 0),
		EventsStoredBytesEach:     round(float64(events1.Bytes-events0.Bytes)/float64(n), 0),
		IntakeCost:                intake,
		DrainCost:                 drainCost,
		DelivererRSSMBEverySecond: rssSeries,
	}
	return r, nil
}

func waitForCtx(ctx context.Context, done func() bool) error {
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// idleSeconds is how long the idle scenario watches a stack doing nothing.
const idleSeconds = 10

// idle charges each process the CPU it uses while no event is sent: what a
// quiet deployment costs (polling loops show up here).
func (b *bench) idle(ctx context.Context) (idleResult, error) {
	// Let start-up work (stream creation, first loads) settle.
	select {
	case <-ctx.Done():
		return idleResult{}, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	before, t0 := b.snapshot(), time.Now()
	select {
	case <-ctx.Done():
		return idleResult{}, ctx.Err()
	case <-time.After(idleSeconds * time.Second):
	}
	after, elapsed := b.snapshot(), time.Since(t0).Seconds()
	r := idleResult{Seconds: round(elapsed, 1), CPUPercent: map[string]float64{}}
	for name, a := range after {
		if s0, ok := before[name]; ok {
			r.CPUPercent[name] = round((a.CPUSeconds-s0.CPUSeconds)/elapsed*100, 2)
		}
	}
	return r, nil
}

// fairness measures one account's latency at a steady low rate alone, then
// while another account publishes a burst as fast as PubAcks allow: intake
// fairness between tenants (issue 14). Both accounts' hooks answer 200, so
// only sharing the pipeline can slow the quiet one down.
func (b *bench) fairness(ctx context.Context) (fairnessResult, error) {
	quiet, err := b.accountsFor(ctx, 1, 1, "fair-quiet")
	if err != nil {
		return fairnessResult{}, err
	}
	noisy, err := b.accountsFor(ctx, 1, 1, "fair-noisy")
	if err != nil {
		return fairnessResult{}, err
	}
	rate, d := b.s.FairnessRate, b.s.LatencyDuration
	r := fairnessResult{QuietRate: rate, Burst: b.s.FairnessBurst, Seconds: d.Seconds()}
	if r.Alone, r.AloneDelivered, r.AloneWant, err = b.offer(ctx, quiet, rate, d, "fairA", b.isolationWait()); err != nil {
		return r, err
	}

	noisyBase, err := b.tb.CountSuccessRows(ctx, noisy)
	if err != nil {
		return r, err
	}
	burst := pbxsim.NewLedger(b.runID("burst"), noisy, b.s.FairnessBurst)
	pub := &pbxsim.Publisher{NC: b.tb.NC, MaxInFlight: 512, RetryFor: 10 * time.Second}
	burstDone := make(chan error, 1)
	go func() { burstDone <- pub.Run(ctx, burst) }()
	r.During, r.DuringDelivered, r.DuringWant, err = b.offer(ctx, quiet, rate, d, "fairB", b.isolationWait())
	if pubErr := <-burstDone; err == nil {
		err = pubErr
	}
	if err != nil {
		return r, err
	}
	// The burst is awaited so a later scenario starts from an empty
	// pipeline.
	waitCtx, cancel := context.WithTimeout(ctx, b.deadlineFor(int64(b.s.FairnessBurst)))
	err = waitForCtx(waitCtx, func() bool {
		n, err := b.tb.CountSuccessRows(ctx, noisy)
		return err == nil && n-noisyBase >= int64(burst.Acked())
	})
	cancel()
	r.BurstComplete = err == nil
	r.BurstSeconds = round(time.Since(burst.FirstSent()).Seconds(), 1)
	return r, nil
}
