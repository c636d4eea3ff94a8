// Command deliverer consumes rendered deliveries from the DELIVERIES stream,
// sends each to its hook's endpoint and records every attempt in PostgreSQL.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/outbound"
)

const serviceName = "deliverer"

// partitionMaintenanceEvery is how often tomorrow's attempt partitions are
// made; hourly is plenty for daily partitions made days ahead.
const partitionMaintenanceEvery = time.Hour

type settings struct {
	config.Common
	DatabaseURL      string
	HealthAddr       string
	Workers          int
	ConnectTimeout   time.Duration
	Timeout          time.Duration
	AllowCIDRs       []netip.Prefix
	MaxResponseBytes int
}

func readSettings(e *config.Env) (settings, error) {
	s := settings{
		Common:           config.ReadCommon(e),
		DatabaseURL:      config.ReadDatabaseURL(e),
		HealthAddr:       e.Addr("DELIVERER_HEALTH_ADDR", "127.0.0.1:8083"),
		Workers:          e.Int("DELIVERER_WORKERS", 64, 1, 4096),
		ConnectTimeout:   e.Duration("DELIVERY_CONNECT_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute),
		Timeout:          e.Duration("DELIVERY_TIMEOUT", 15*time.Second, 100*time.Millisecond, 5*time.Minute),
		AllowCIDRs:       e.Prefixes("DELIVERY_ALLOW_CIDRS"),
		MaxResponseBytes: e.Int("DELIVERY_MAX_RESPONSE_BYTES", deliver.DefaultMaxResponseBytes, 1, 16<<20),
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
	defer flushTelemetry(shutdownTracing, cfg.ShutdownTimeout, log)

	nc, js, err := bus.Connect(cfg.NATSURL, serviceName, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Replicas: cfg.StreamReplicas, EventsMaxAge: bus.DefaultStreamOptions().EventsMaxAge}); err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, 8)
	if err != nil {
		return err
	}
	defer pool.Close()
	queries := store.New(pool)
	if err := attempts.EnsurePartitions(ctx, queries); err != nil {
		return err
	}

	writer := attempts.NewWriter(queries, log, attempts.DefaultMaxBatch, attempts.DefaultMaxDelay)
	deliverer := deliver.New(deliver.Deps{
		JS: js,
		Client: outbound.NewClient(outbound.Config{
			ConnectTimeout: cfg.ConnectTimeout, Timeout: cfg.Timeout, AllowCIDRs: cfg.AllowCIDRs,
			MaxIdleConnsPerHost: min(cfg.Workers, 64),
		}),
		Attempts:         writer,
		Log:              log,
		MaxResponseBytes: cfg.MaxResponseBytes,
	})
	// The longest handler is one request plus the attempt write; twice the
	// request timeout leaves room for a slow database.
	processor := deliverer.Processor(cfg.Workers, 2*cfg.Timeout+10*time.Second)

	checks := &health.Checks{}
	checks.Add("nats", func(context.Context) error {
		if status := nc.Status(); status != nats.CONNECTED {
			return fmt.Errorf("NATS connection is %s", status)
		}
		return nil
	})
	checks.Add("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })

	writerDone := make(chan struct{})
	go func() { writer.Run(); close(writerDone) }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return health.Serve(gctx, cfg.HealthAddr, checks.Mux(), cfg.ShutdownTimeout) })
	g.Go(func() error { return attempts.MaintainPartitions(gctx, queries, partitionMaintenanceEvery, log) })
	g.Go(func() error {
		// In-flight deliveries finish and record their attempts before the
		// writer is stopped.
		defer writer.Stop()
		return processor.Run(gctx)
	})
	log.InfoContext(ctx, "deliverer started", "health_addr", cfg.HealthAddr, "workers", cfg.Workers,
		"allow_cidrs", fmt.Sprint(cfg.AllowCIDRs))

	err = g.Wait()
	<-writerDone
	log.InfoContext(context.Background(), "deliverer stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func flushTelemetry(shutdown func(context.Context) error, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn("flush telemetry", telemetry.KeyError, err)
	}
}
