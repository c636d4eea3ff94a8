// Command api serves the pbxhooks REST API; `api migrate` applies the
// database migrations and exits; `api nats-config` prints the nats-server
// users and permissions of a production deployment (docs/SECURITY.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/pkg/netguard"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/api/internal/console"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

const service = "api"

// eventsIndexMaintenanceEvery is how often tomorrow's events_index
// partitions are made and its retention enforced, as the deliverer does
// for attempts.
const eventsIndexMaintenanceEvery = time.Hour

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	switch {
	case len(args) == 0:
		return serve(ctx)
	case len(args) == 1 && args[0] == "migrate":
		return migrate(ctx)
	case len(args) >= 1 && args[0] == "nats-config":
		return natsConfig(args[1:], os.Stdout)
	default:
		return errors.New("usage: api [migrate | nats-config --secrets FILE [--account ID]...]")
	}
}

func migrate(ctx context.Context) error {
	cfg, err := readMigrateConfig(config.FromOS())
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(os.Stdout, service, cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if err := store.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	log.InfoContext(ctx, "database migrated")
	return nil
}

func serve(ctx context.Context) error {
	cfg, err := readServeConfig(config.FromOS())
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(os.Stdout, service, cfg.LogLevel)
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	shutdownTracing, err := telemetry.SetupTracing(ctx, service)
	if err != nil {
		return err
	}
	// Flushed last, after every component that could still emit spans.
	defer telemetry.FlushTracing(shutdownTracing, 5*time.Second, log)

	nc, js, err := bus.Connect(cfg.NATSURL, service, cfg.NATSCredentials, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	streamOpts := bus.DefaultStreamOptions()
	streamOpts.Replicas = cfg.StreamReplicas
	if err := bus.EnsureStreams(ctx, js, streamOpts); err != nil {
		return err
	}
	if err := cfg.Media.CheckMediaBucket(ctx, js); err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()

	reg, err := metrics.NewRegistry()
	if err != nil {
		return err
	}
	api, err := httpapi.New(httpapi.Deps{
		Pool:         pool,
		NATS:         nc,
		Logger:       log,
		AdminToken:   cfg.AdminToken,
		MaxBodyBytes: cfg.MaxBodyBytes,
		JetStream:    js,

		SecretRotationOverlap: cfg.SecretRotationOverlap,
		TestWait:              cfg.TestWait,
		RateLimit:             rate.Limit(cfg.RateLimitRPS),
		RateBurst:             cfg.RateLimitBurst,
		Media:                 httpapi.MediaDeps{LinkKeys: cfg.Media.Keys, Links: cfg.Media.Linker(nil)},
		Destinations:          netguard.Guard{Allow: cfg.AllowCIDRs},
		TrustedProxies:        cfg.TrustedProxies,
		Metrics:               reg,
		IngestURL:             cfg.IngestURL,
	})
	if err != nil {
		return err
	}
	if err := store.EnsurePartitions(ctx, store.New(pool), store.EventsIndexTable); err != nil {
		return err
	}
	indexer := eventindex.New(pool, js, log, eventindex.Config{})
	indexMaintenance := &store.PartitionMaintenance{Pool: pool, Table: store.EventsIndexTable,
		Retention: cfg.EventsIndexRetention, Log: log}
	con, err := console.New(console.Deps{API: api.Handler(), Authenticate: api.Authenticate, Pool: pool, Logger: log})
	if err != nil {
		return err
	}
	api.Mount(console.MountPath, con)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return api.Run(gctx, cfg.HTTPAddr, cfg.ShutdownTimeout) })
	// The index consumer drains its in-flight batch on shutdown; a consumer
	// lost for good ends the service (non-zero) so its supervisor restarts it.
	g.Go(func() error { return indexer.Run(gctx) })
	g.Go(func() error { return indexMaintenance.Run(gctx, eventsIndexMaintenanceEvery) })
	g.Go(func() error { return health.ServeProfiling(gctx, cfg.PprofAddr) })
	err = g.Wait()
	// In-flight requests are done; deliver any hook-change notification
	// still buffered before the connection closes.
	if flushErr := nc.FlushTimeout(5 * time.Second); flushErr != nil {
		log.Warn("flush NATS connection", telemetry.KeyError, flushErr.Error())
	}
	return err
}
