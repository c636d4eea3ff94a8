// Command deliverer consumes rendered deliveries from the DELIVERIES stream,
// sends each to its hook's endpoint and records every attempt in PostgreSQL.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/pkg/netguard"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/autodisable"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/endpoint"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/hookstate"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/outbound"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/relay"
)

const serviceName = "deliverer"

// attemptMaintenanceEvery is how often tomorrow's attempt partitions are
// made and retention enforced; hourly is plenty for daily partitions made
// days ahead and a retention counted in days.
const attemptMaintenanceEvery = time.Hour

type settings struct {
	config.Common
	DatabaseURL      string
	HealthAddr       string
	Workers          int
	ParkedWorkers    int
	ConnectTimeout   time.Duration
	Timeout          time.Duration
	AllowCIDRs       []netip.Prefix
	MaxResponseBytes int
	MaxAckPending    int
	HookCacheTTL     time.Duration
	// Endpoint isolation.
	MaxPerEndpoint  int
	BreakerFailures int
	BreakerCooldown time.Duration
	// Auto-disable deployment defaults (Kazoo's attempt_failure_count and
	// attempt_failure_expiry); accounts may override them.
	AttemptFailureCount  int
	AttemptFailureExpiry time.Duration
	AttemptRetention     time.Duration
}

func readSettings(e *config.Env) (settings, error) {
	e.Expect(serviceName)
	s := settings{
		Common:              config.ReadCommon(e),
		DatabaseURL:         config.ReadDatabaseURL(e),
		HealthAddr:          e.Addr("DELIVERER_HEALTH_ADDR", "127.0.0.1:8083"),
		Workers:             e.Int("DELIVERER_WORKERS", 64, 1, 4096),
		ParkedWorkers:       e.Int("DELIVERER_PARKED_WORKERS", deliver.DefaultParkedWorkers, 1, 4096),
		ConnectTimeout:      e.Duration("DELIVERY_CONNECT_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute),
		Timeout:             e.Duration("DELIVERY_TIMEOUT", 15*time.Second, 100*time.Millisecond, 5*time.Minute),
		AllowCIDRs:          netguard.ReadAllowCIDRs(e),
		MaxResponseBytes:    e.Int("DELIVERY_MAX_RESPONSE_BYTES", deliver.DefaultMaxResponseBytes, 1, 16<<20),
		MaxAckPending:       e.Int("DELIVERY_MAX_ACK_PENDING", deliver.DefaultMaxAckPending, 100, 1_000_000),
		HookCacheTTL:        e.Duration("DELIVERY_HOOK_CACHE_TTL", hookstate.DefaultTTL, time.Second, 10*time.Minute),
		MaxPerEndpoint:      e.Int("DELIVERY_MAX_PER_ENDPOINT", endpoint.DefaultMaxInFlight, 1, 1024),
		BreakerFailures:     e.Int("DELIVERY_BREAKER_FAILURES", endpoint.DefaultFailures, 1, 1000),
		BreakerCooldown:     e.Duration("DELIVERY_BREAKER_COOLDOWN", endpoint.DefaultCooldown, time.Second, time.Hour),
		AttemptFailureCount: e.Int("DELIVERY_ATTEMPT_FAILURE_COUNT", autodisable.DefaultFailureCount, 1, 1000),
		AttemptFailureExpiry: e.Duration("DELIVERY_ATTEMPT_FAILURE_EXPIRY", autodisable.DefaultFailureExpiry,
			time.Second, 24*time.Hour),
		AttemptRetention: e.Duration("DELIVERY_ATTEMPT_RETENTION", attempts.DefaultRetention, time.Hour, 10*365*24*time.Hour),
	}
	return s, e.Err()
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, serviceName+":", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := readSettings(config.FromOS())
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(os.Stdout, serviceName, cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	shutdownTracing, err := telemetry.SetupTracing(ctx, serviceName)
	if err != nil {
		return err
	}
	defer telemetry.FlushTracing(shutdownTracing, cfg.ShutdownTimeout, log)

	nc, js, err := bus.Connect(cfg.NATSURL, serviceName, cfg.NATSCredentials, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Replicas: cfg.StreamReplicas, EventsMaxAge: bus.DefaultStreamOptions().EventsMaxAge}); err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, 16)
	if err != nil {
		return err
	}
	defer pool.Close()
	queries := store.New(pool)
	if err := attempts.EnsurePartitions(ctx, queries); err != nil {
		return err
	}

	hooks := hookstate.New(queries, cfg.HookCacheTTL, nil)
	if err := hooks.Subscribe(nc); err != nil {
		return err
	}
	defer hooks.Close()

	writer := attempts.NewWriter(queries, log, attempts.DefaultMaxBatch, attempts.DefaultConcurrentFlushes)
	deliverer := deliver.New(deliver.Deps{
		JS: js,
		Client: outbound.NewClient(outbound.Config{
			ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.Timeout, AllowCIDRs: cfg.AllowCIDRs,
			MaxIdleConnsPerHost: cfg.MaxPerEndpoint,
		}),
		Relay:    relay.NewClient(nc, cfg.Timeout),
		Attempts: &attempts.Announcer{Writer: writer, NATS: nc, Log: log},
		Counter:  queries,
		Hooks:    hooks,
		Failures: autodisable.New(queries, nc,
			autodisable.Rule{Count: cfg.AttemptFailureCount, Expiry: cfg.AttemptFailureExpiry}, log, nil),
		Gate: endpoint.NewGate(endpoint.Config{
			MaxInFlight: cfg.MaxPerEndpoint, Failures: cfg.BreakerFailures, Cooldown: cfg.BreakerCooldown,
		}),
		Log:              log,
		MaxResponseBytes: cfg.MaxResponseBytes,
	})
	reg, err := metrics.NewRegistry()
	if err != nil {
		return err
	}
	lag := metrics.NewConsumerLag(js, 0,
		metrics.Consumer{Stream: bus.StreamDeliveries, Durable: bus.ConsumerDeliverer},
		metrics.Consumer{Stream: bus.StreamParked, Durable: bus.ConsumerDeliverer + "-parked", WholeStream: true})
	if err := metrics.Register(reg, append(deliverer.Collectors(), lag)...); err != nil {
		return err
	}
	// The longest handler is one request plus the attempt write; twice the
	// request timeout leaves room for a slow database.
	ackWait := 2*cfg.Timeout + 10*time.Second
	processor := deliverer.Processor(cfg.Workers, ackWait, cfg.MaxAckPending)
	maintenance := attempts.NewMaintenance(pool, cfg.AttemptRetention, log)

	checks := &health.Checks{}
	checks.Add("nats", bus.ConnectionReady(nc))
	checks.Add("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	checks.Add("consumer", processor.Ready)

	writerDone := make(chan struct{})
	go func() { writer.Run(); close(writerDone) }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return checks.Serve(gctx, cfg.HealthAddr, metrics.Handler(reg), cfg.ShutdownTimeout) })
	g.Go(func() error { return maintenance.Run(gctx, attemptMaintenanceEvery) })
	g.Go(func() error { return health.ServeProfiling(gctx, cfg.PprofAddr) })
	// In-flight deliveries, shared and parked, finish and record their
	// attempts before the writer is stopped.
	var deliveries errgroup.Group
	deliveries.Go(func() error { return processor.Run(gctx) })
	deliveries.Go(func() error {
		return deliverer.RunParking(gctx, deliver.ParkingConfig{Workers: cfg.ParkedWorkers, AckWait: ackWait})
	})
	g.Go(func() error {
		defer writer.Stop()
		return deliveries.Wait()
	})
	log.InfoContext(ctx, "deliverer started", "health_addr", cfg.HealthAddr, "workers", cfg.Workers,
		"parked_workers", cfg.ParkedWorkers, "allow_cidrs", fmt.Sprint(cfg.AllowCIDRs))

	err = g.Wait()
	<-writerDone
	log.InfoContext(context.Background(), "deliverer stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
