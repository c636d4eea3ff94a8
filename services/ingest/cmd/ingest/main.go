// Command ingest accepts PBX events over NATS and HTTP and stores them as
// canonical events on the EVENTS stream.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/accept"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ami"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ari"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/chanstate"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/consume"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/freeswitch"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/httpapi"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ingestmetrics"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/media"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/native"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/publish"
)

const serviceName = "ingest"

// maxDatabaseConns bounds ingest's PostgreSQL connections: it only looks up
// account tokens, and caches them.
const maxDatabaseConns = 4

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := readSettings(config.FromOS())
	if err != nil {
		return err
	}
	log, err := telemetry.NewLogger(os.Stdout, serviceName, cfg.Common.LogLevel)
	if err != nil {
		return fmt.Errorf("LOG_LEVEL: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	shutdownTracing, err := telemetry.SetupTracing(ctx, serviceName)
	if err != nil {
		return err
	}
	defer telemetry.FlushTracing(shutdownTracing, cfg.Common.ShutdownTimeout, log)

	nc, js, err := bus.Connect(cfg.Common.NATSURL, serviceName, cfg.Common.NATSCredentials, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Replicas: cfg.Common.StreamReplicas, EventsMaxAge: 7 * 24 * time.Hour}); err != nil {
		return err
	}

	obs, err := bus.EnsureMediaBucket(ctx, js, cfg.MediaTTL, cfg.Common.StreamReplicas)
	if err != nil {
		return err
	}
	mediaStore, err := media.New(obs, cfg.MaxMediaBytes)
	if err != nil {
		return err
	}

	// Account tokens are verified against PostgreSQL, a few connections
	// suffice: the cache answers a busy PBX's repeated requests.
	pool, err := store.Open(ctx, cfg.DatabaseURL, maxDatabaseConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	admin, err := credential.NewAdminToken(cfg.AdminToken)
	if err != nil {
		return fmt.Errorf("PBXHOOKS_ADMIN_TOKEN: %w", err)
	}
	auth, err := credential.NewAuthenticator(credential.Options{
		Admin: admin, Tokens: credential.NewPostgresTokens(pool), CacheTTL: cfg.TokenCacheTTL,
		TrustedProxies: cfg.TrustedProxies,
	})
	if err != nil {
		return err
	}
	channelState, err := bus.EnsureChannelStateBucket(ctx, js, cfg.Common.StreamReplicas)
	if err != nil {
		return err
	}

	// Every PBX input format ingest understands.
	adapters := []adapter.Adapter{
		native.Adapter(),
		freeswitch.Adapter(freeswitch.Options{AccountVar: cfg.FreeSWITCHAccountVar, ChannelVars: cfg.FreeSWITCHChannelVars}),
		ari.Adapter(ari.Options{
			AccountVar: cfg.ARIAccountVar, DirectionVar: cfg.ARIDirectionVar, LinkedIDVar: cfg.ARILinkedIDVar,
			Channels: chanstate.KV{KV: channelState},
		}),
		ami.Adapter(ami.Options{Channels: chanstate.KV{KV: channelState}}),
	}
	reg, err := metrics.NewRegistry()
	if err != nil {
		return err
	}
	counts := ingestmetrics.New()
	lag := metrics.NewConsumerLag(js, 0,
		metrics.Consumer{Stream: bus.StreamPBX, Durable: bus.ConsumerIngest},
		metrics.Consumer{Stream: bus.StreamPBX, Durable: bus.ConsumerIngestOrdered})
	if err := metrics.Register(reg, append(counts.Collectors(), lag)...); err != nil {
		return err
	}
	pub := publish.New(js, counts)
	// One pipeline for both transports: an event is parsed, stored and
	// dead-lettered the same way whether it came over NATS or HTTP.
	pipeline, err := accept.New(accept.Deps{
		JS: js, Publisher: pub, Media: mediaStore, Log: log, Metrics: counts,
		MaxEventBytes: cfg.MaxEventBytes, PublishTimeout: cfg.PublishTimeout,
	})
	if err != nil {
		return err
	}
	server, err := httpapi.New(httpapi.Deps{
		Log: log, NC: nc, JS: js, Publisher: pub, Pipeline: pipeline, Adapters: adapters, Media: mediaStore, Auth: auth,
		MetricsHandler: metrics.Handler(reg),
		Limits: httpapi.Limits{
			MaxEventBytes:    cfg.MaxEventBytes,
			MaxBatchEvents:   cfg.MaxBatchEvents,
			PublishTimeout:   cfg.PublishTimeout,
			BodyIdleTimeout:  cfg.BodyIdleTimeout,
			MinBodyRate:      cfg.MinBodyRate,
			MaxInflightBytes: cfg.MaxInflightBytes,
		},
	})
	if err != nil {
		return err
	}
	consumer, err := consume.New(consume.Deps{
		JS: js, Log: log, Pipeline: pipeline, Adapters: adapters,
		Workers: cfg.Workers, AckWait: cfg.AckWait,
	})
	if err != nil {
		return err
	}
	server.AddReadyCheck("consumer", consumer.Ready)

	// Shutdown order: the HTTP intake stops first (in-flight requests finish
	// and are answered), then the consumer drains, then NATS closes.
	g, gctx := errgroup.WithContext(ctx)
	consumeCtx, stopConsuming := context.WithCancel(context.WithoutCancel(gctx))
	defer stopConsuming()
	g.Go(func() error {
		defer stopConsuming()
		return server.Run(gctx, cfg.HTTPAddr, cfg.Common.ShutdownTimeout)
	})
	// A consumer that fails cancels gctx, which stops the HTTP intake too.
	g.Go(func() error { return consumer.Run(consumeCtx) })
	g.Go(func() error { return health.ServeProfiling(gctx, cfg.Common.PprofAddr) })
	log.InfoContext(ctx, "ingest started", "http_addr", cfg.HTTPAddr)
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("ingest stopped")
	return nil
}
