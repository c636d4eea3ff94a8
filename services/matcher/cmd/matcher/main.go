// Command matcher consumes canonical events from the EVENTS stream, finds the
// account's enabled hooks that want each event, and publishes one rendered
// delivery per hook on the DELIVERIES stream.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/fanout"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/hookcache"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/render"
)

const serviceName = "matcher"

type settings struct {
	config.Common
	DatabaseURL    string
	HealthAddr     string
	Workers        int
	ResyncInterval time.Duration
	// PendingWait bounds how long an event waits for an announced hook
	// reload of its account.
	PendingWait time.Duration
	MediaLinks  medialink.Config
}

func readSettings(e *config.Env) (settings, error) {
	e.Expect(serviceName)
	s := settings{
		Common:         config.ReadCommon(e),
		DatabaseURL:    config.ReadDatabaseURL(e),
		HealthAddr:     e.Addr("MATCHER_HEALTH_ADDR", "127.0.0.1:8082"),
		Workers:        e.Int("MATCHER_WORKERS", 8, 1, 1024),
		ResyncInterval: e.Duration("MATCHER_RESYNC_INTERVAL", hookcache.DefaultResyncInterval, time.Second, 24*time.Hour),
		PendingWait:    e.Duration("MATCHER_HOOK_RELOAD_WAIT", hookcache.DefaultPendingWait, time.Millisecond, time.Minute),
		MediaLinks:     medialink.ReadConfig(e),
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

	nc, _, err := bus.Connect(cfg.NATSURL, serviceName, cfg.NATSCredentials, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Our own JetStream context so a lost PubAck fails its future instead of
	// waiting forever.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(fanout.DefaultPublishTimeout))
	if err != nil {
		return fmt.Errorf("JetStream context: %w", err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Replicas: cfg.StreamReplicas, EventsMaxAge: bus.DefaultStreamOptions().EventsMaxAge}); err != nil {
		return err
	}
	if err := cfg.MediaLinks.CheckMediaBucket(ctx, js); err != nil {
		return err
	}
	pool, err := store.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		return err
	}
	defer pool.Close()

	queries := store.New(pool)
	cache := hookcache.New(hookcache.Deps{
		Source: queries, JS: js, Log: log, ResyncInterval: cfg.ResyncInterval, PendingWait: cfg.PendingWait,
	})
	if err := cache.Start(ctx); err != nil {
		return err
	}
	accounts, hooks := cache.Size()
	log.InfoContext(ctx, "hooks loaded", "accounts", accounts, "hooks", hooks)

	reg, err := metrics.NewRegistry()
	if err != nil {
		return err
	}
	delivered := fanout.NewDeliveredCounter()
	lag := metrics.NewConsumerLag(js, 0, metrics.Consumer{Stream: bus.StreamEvents, Durable: bus.ConsumerMatcher})
	if err := metrics.Register(reg, delivered, lag); err != nil {
		return err
	}
	fan := &fanout.Fanout{
		JS: js, Hooks: cache, HookByID: queries, Log: log,
		Render:    &render.Renderer{Links: cfg.MediaLinks.Linker(nil)},
		Delivered: delivered,
	}
	processor := fan.Processor(cfg.Workers)

	checks := &health.Checks{}
	checks.Add("nats", bus.ConnectionReady(nc))
	checks.Add("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	checks.Add("consumer", processor.Ready)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return checks.Serve(gctx, cfg.HealthAddr, metrics.Handler(reg), cfg.ShutdownTimeout) })
	g.Go(func() error { return cache.Run(gctx) })
	g.Go(func() error { return health.ServeProfiling(gctx, cfg.PprofAddr) })
	g.Go(func() error { return processor.Run(gctx) })
	g.Go(func() error { return fan.ServeResends(gctx, nc) })
	log.InfoContext(ctx, "matcher started", "health_addr", cfg.HealthAddr, "workers", cfg.Workers)

	err = g.Wait()
	log.InfoContext(context.Background(), "matcher stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
