package deliver

// Parking keeps a failing or slow endpoint's backlog off the shared
// DELIVERIES consumer.
//
// Why: handing a turned-away delivery back to DELIVERIES (a delayed nak)
// makes JetStream redeliver it again and again while its endpoint is down,
// and a redelivery goes out before new messages. A dead endpoint with
// 10,000 queued deliveries then keeps the shared consumer busy re-fetching
// its backlog every time the breaker's cooldown ends, and deliveries to
// healthy endpoints wait behind that churn (seconds at p99).
//
// How: when the gate calls an endpoint troubled, Handle moves the delivery
// to the PARKED stream on parked.<endpoint> (publish, then ack) and goes on.
// Each parked endpoint has a durable consumer of its own, and each replica
// runs a lane per parked endpoint: up to the endpoint's cap of slots, each
// of which first waits for the gate to admit a request (Gate.Acquire) and
// only then fetches one parked delivery. While the breaker is open nothing
// is fetched at all; when it is half-open exactly one probe is; when the
// endpoint recovers its backlog drains at its cap. Failed attempts retry
// with a delayed nak on the endpoint's own consumer, so retries too stay
// off the shared consumer.
//
// Replicas: every replica scans the PARKED stream's subjects every
// ScanEvery and runs a lane for each endpoint with parked deliveries, so a
// backlog parked by one replica (or left by a stopped one) is drained by
// all of them, each within its own per-endpoint cap. A lane stops once its
// consumer has nothing pending; the server removes a consumer unused for
// parkedConsumerIdle, and a later scan makes it again if anything is left.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Defaults for ParkingConfig.
const (
	DefaultParkedWorkers = 64
	DefaultParkingScan   = 2 * time.Second
)

// parkedConsumerIdle is how long the server keeps an endpoint's parked
// consumer that nobody fetched from.
const parkedConsumerIdle = time.Hour

// Idle lane polling: a lane whose endpoint has retries waiting (delayed
// naks) looks for them again after laneIdleMin, doubling up to laneIdleMax.
const (
	laneIdleMin = 100 * time.Millisecond
	laneIdleMax = 2 * time.Second
)

// ParkingConfig tunes RunParking.
type ParkingConfig struct {
	// Workers bounds this replica's parked deliveries in flight across all
	// endpoints (DefaultParkedWorkers), apart from the shared consumer's
	// workers, so slow endpoints cannot take those.
	Workers int
	// AckWait is how long a fetched parked delivery may take; as for the
	// shared consumer, longer than a request plus the attempt write.
	AckWait time.Duration
	// ScanEvery is how often the PARKED stream is scanned for endpoints
	// parked by another replica or by an earlier run (DefaultParkingScan).
	ScanEvery time.Duration
}

// RunParking serves parked backlogs until ctx ends, then waits for the
// parked deliveries in flight to finish and be settled. While it runs,
// Handle parks the deliveries of troubled endpoints.
func (d *Deliverer) RunParking(ctx context.Context, cfg ParkingConfig) error {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultParkedWorkers
	}
	if cfg.ScanEvery <= 0 {
		cfg.ScanEvery = DefaultParkingScan
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = time.Minute
	}
	lot := &parkingLot{
		d:       d,
		cfg:     cfg,
		ctx:     ctx,
		workers: make(chan struct{}, cfg.Workers),
		lanes:   map[string]*lane{},
		settle: &bus.Processor{
			JS:   d.deps.JS,
			Spec: bus.ConsumerSpec{Stream: bus.StreamParked, Durable: bus.ConsumerDeliverer + "-parked"},
			Log:  d.deps.Log,
		},
	}
	d.parking.Store(lot)
	defer func() {
		d.parking.CompareAndSwap(lot, nil)
		lot.mu.Lock()
		lot.closed = true
		lot.mu.Unlock()
		lot.running.Wait()
	}()
	ticker := time.NewTicker(cfg.ScanEvery)
	defer ticker.Stop()
	for {
		if err := lot.scan(ctx); err != nil && ctx.Err() == nil {
			d.deps.Log.WarnContext(ctx, "scan of parked deliveries failed", telemetry.KeyError, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// parkingLot is one replica's set of lanes.
type parkingLot struct {
	d   *Deliverer
	cfg ParkingConfig
	// ctx is RunParking's: lanes end with it.
	ctx context.Context
	// workers bounds parked requests in flight across lanes.
	workers chan struct{}
	settle  *bus.Processor

	mu      sync.Mutex
	lanes   map[string]*lane // by parked subject
	closed  bool
	running sync.WaitGroup
}

// lane drains one endpoint's parked backlog on this replica.
type lane struct {
	key     string
	subject string
	// wake (capacity 1) rouses an idle slot when a delivery is parked.
	wake   chan struct{}
	cancel context.CancelFunc
	// parked counts (under parkingLot.mu) the deliveries this replica
	// parked here, so a slot that found nothing pending can tell whether
	// one arrived meanwhile.
	parked uint64
	// polling is set (under parkingLot.mu) while one idle slot polls.
	polling bool
}

func (l *lane) rouse() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// park moves a delivery to its endpoint's parked backlog. Publishing comes
// first and the ack (Handle's nil) after, so a crash in between leaves the
// original to be parked again; the copy's message id (the original's
// DELIVERIES sequence and message id) makes that second copy a duplicate
// JetStream drops.
func (lot *parkingLot) park(ctx context.Context, msg jetstream.Msg, key string) error {
	subject, err := bus.ParkedSubject(key)
	if err != nil {
		return bus.Defer(time.Second, err.Error())
	}
	md, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("park: read message metadata: %w", err)
	}
	out := nats.NewMsg(subject)
	out.Data = msg.Data()
	telemetry.InjectNATS(ctx, out.Header)
	// The sequence tells apart two messages of one delivery id (a replay
	// past the dedupe window); the id keeps a recreated DELIVERIES stream,
	// whose sequences start again, from matching an earlier copy.
	out.Header.Set(bus.HeaderMsgID, fmt.Sprintf("parked/%d/%s", md.Sequence.Stream, msg.Headers().Get(bus.HeaderMsgID)))
	if _, err := lot.d.deps.JS.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("park delivery for %s: %w", key, err)
	}
	lot.ensureLane(subject, key, true)
	return nil
}

// scan starts a lane for every endpoint with parked deliveries.
func (lot *parkingLot) scan(ctx context.Context) error {
	stream, err := lot.d.deps.JS.Stream(ctx, bus.StreamParked)
	if err != nil {
		return err
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.SubjectParkedAll))
	if err != nil {
		return err
	}
	for subject, n := range info.State.Subjects {
		if n == 0 {
			continue
		}
		key, err := bus.ParkedEndpoint(subject)
		if err != nil {
			lot.d.deps.Log.WarnContext(ctx, "unreadable parked subject", telemetry.KeySubject, subject, telemetry.KeyError, err)
			continue
		}
		lot.ensureLane(subject, key, false)
	}
	return nil
}

// ensureLane starts the endpoint's lane unless it runs; poke marks that a
// delivery was just parked, so a lane about to stop keeps going.
func (lot *parkingLot) ensureLane(subject, key string, poke bool) {
	lot.mu.Lock()
	defer lot.mu.Unlock()
	if l := lot.lanes[subject]; l != nil {
		if poke {
			l.parked++
			l.rouse()
		}
		return
	}
	if lot.closed || lot.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(lot.ctx)
	l := &lane{key: key, subject: subject, wake: make(chan struct{}, 1), cancel: cancel}
	lot.lanes[subject] = l
	lot.running.Add(1)
	go func() {
		defer lot.running.Done()
		defer lot.forget(l)
		lot.runLane(ctx, l)
	}()
}

func (lot *parkingLot) forget(l *lane) {
	lot.mu.Lock()
	defer lot.mu.Unlock()
	lot.forgetLocked(l)
}

// forgetLocked stops the lane and drops it from the lot; lot.mu is held.
func (lot *parkingLot) forgetLocked(l *lane) {
	l.cancel()
	if lot.lanes[l.subject] == l {
		delete(lot.lanes, l.subject)
	}
}

func (lot *parkingLot) runLane(ctx context.Context, l *lane) {
	cons, err := lot.d.deps.JS.CreateOrUpdateConsumer(ctx, bus.StreamParked, jetstream.ConsumerConfig{
		Durable:       bus.ParkedConsumer(l.key),
		Description:   "parked deliveries for " + l.key,
		FilterSubject: l.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       lot.cfg.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
		// Retries waiting for their delay are pending acks: a dead
		// endpoint's whole backlog may be among them.
		MaxAckPending:     -1,
		InactiveThreshold: parkedConsumerIdle,
	})
	if err != nil {
		if ctx.Err() == nil {
			lot.d.deps.Log.WarnContext(ctx, "cannot open parked backlog; the next scan retries",
				"endpoint", l.key, telemetry.KeyError, err)
		}
		return
	}
	lot.d.deps.Log.InfoContext(ctx, "endpoint failing or slow: serving its parked deliveries", "endpoint", l.key,
		"parked", cons.CachedInfo().NumPending+uint64(cons.CachedInfo().NumAckPending))
	var slots sync.WaitGroup
	for range lot.d.deps.Gate.MaxInFlight() {
		slots.Go(func() { lot.serveSlot(ctx, l, cons) })
	}
	slots.Wait()
	if lot.ctx.Err() == nil {
		lot.d.deps.Log.InfoContext(ctx, "parked deliveries of the endpoint all served", "endpoint", l.key)
	}
}

// serveSlot sends the lane's parked deliveries one at a time, each fetched
// only once the gate has admitted a request to the endpoint.
func (lot *parkingLot) serveSlot(ctx context.Context, l *lane, cons jetstream.Consumer) {
	// Admitted deliveries finish and are settled even when ctx ends.
	handlerCtx := context.WithoutCancel(ctx)
	idle := laneIdleMin
	for ctx.Err() == nil {
		ticket, err := lot.d.deps.Gate.Acquire(ctx, l.key)
		if err != nil {
			return
		}
		select {
		case lot.workers <- struct{}{}:
		case <-ctx.Done():
			ticket.Release()
			return
		}
		msg, err := fetchOne(cons)
		if msg == nil {
			<-lot.workers
			ticket.Release()
			if err != nil && ctx.Err() == nil {
				lot.d.deps.Log.DebugContext(ctx, "fetch of parked delivery failed", "endpoint", l.key, telemetry.KeyError, err)
			}
			if !lot.waitForWork(ctx, l, cons, idle) {
				return
			}
			idle = min(idle*2, laneIdleMax)
			continue
		}
		idle = laneIdleMin
		// More may be waiting: let an idle sibling slot look too.
		l.rouse()
		lot.settle.Process(handlerCtx, msg, func(ctx context.Context, m jetstream.Msg) error {
			return lot.d.handleParked(ctx, m, ticket)
		})
		<-lot.workers
	}
}

// fetchOne returns the consumer's next deliverable message, or nil at once
// when there is none.
func fetchOne(cons jetstream.Consumer) (jetstream.Msg, error) {
	batch, err := cons.FetchNoWait(1)
	if err != nil {
		return nil, err
	}
	var msg jetstream.Msg
	for m := range batch.Messages() {
		msg = m
	}
	return msg, batch.Error()
}

// waitForWork waits for a parked delivery or for the poll interval, then
// reports whether the slot should go on: the lane stops (false) once its
// consumer has nothing pending, not even a retry waiting for its delay, and
// nothing was parked meanwhile. One idle slot of a lane polls the consumer;
// the others wait to be roused, so an idle lane costs one fetch and one
// info request per interval, not one per slot.
func (lot *parkingLot) waitForWork(ctx context.Context, l *lane, cons jetstream.Consumer, wait time.Duration) bool {
	lot.mu.Lock()
	parkedBefore := l.parked
	polls := !l.polling
	l.polling = true
	lot.mu.Unlock()
	if !polls {
		select {
		case <-ctx.Done():
			return false
		case <-l.wake:
			return true
		}
	}
	goOn := lot.poll(ctx, l, cons, wait, parkedBefore)
	lot.mu.Lock()
	l.polling = false
	lot.mu.Unlock()
	return goOn
}

// poll is waitForWork's polling slot: it sleeps for wait (or until roused),
// then asks the consumer whether anything is pending and stops the lane
// when nothing is.
func (lot *parkingLot) poll(ctx context.Context, l *lane, cons jetstream.Consumer, wait time.Duration, parkedBefore uint64) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-l.wake:
		return true
	case <-timer.C:
	}
	info, err := cons.Info(ctx)
	if err != nil {
		// Gone (deleted, or removed while idle) or unreachable: the whole
		// lane stops, siblings waiting to be roused included, so a later
		// scan or park starts it again, with a consumer made again, if
		// anything is left.
		if ctx.Err() == nil {
			lot.d.deps.Log.WarnContext(ctx, "parked backlog unreachable; the next scan reopens it",
				"endpoint", l.key, telemetry.KeyError, err)
		}
		lot.forget(l)
		return false
	}
	if info.NumPending > 0 || info.NumAckPending > 0 {
		return true
	}
	lot.mu.Lock()
	defer lot.mu.Unlock()
	if l.parked != parkedBefore {
		return true
	}
	lot.forgetLocked(l)
	return false
}
