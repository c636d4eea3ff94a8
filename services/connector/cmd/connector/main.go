// Command connector attaches to one PBX (FreeSWITCH's event socket,
// Asterisk's ARI WebSocket or its AMI) and
// forwards its call events, raw and in the order the PBX emitted them, to
// the PBX stream for ingest, through a bounded on-disk spool; see
// docs/CONNECTORS.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/health"
	"github.com/pbxhooks/pbxhooks/pkg/metrics"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/amiconn"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/ariconn"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/connmetrics"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/forward"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/fsconn"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/link"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/media"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
)

const serviceName = "connector"

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

	nc, js, err := bus.ConnectPBX(cfg.NATSURL, serviceName, cfg.AccountID, cfg.NATSCredentials, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	sp, err := spool.Open(cfg.SpoolDir, cfg.SpoolMaxBytes, runID())
	if err != nil {
		return err
	}
	m := connmetrics.New(func() float64 { return float64(sp.Bytes()) }, func() float64 { return float64(sp.Len()) })
	reg, err := metrics.NewRegistry()
	if err != nil {
		return err
	}
	if err := metrics.Register(reg, m.Collectors()...); err != nil {
		return err
	}
	fwd := &forward.Forwarder{
		Spool: sp, JS: js, Log: log,
		Published: m.Published.Inc, Failures: m.PublishFailures.Inc,
	}
	lnk := &link.Link{
		Spool: sp, Log: log,
		Metrics: link.Metrics{
			Spooled:       m.Spooled.Inc,
			SpoolFull:     m.SpoolFull.Inc,
			Reconstructed: func(lifecycle string) { m.Reconstructed.WithLabelValues(lifecycle).Inc() },
		},
	}
	var pbx interface{ Run(context.Context) error }
	mediaRun := func(context.Context) error { return nil }
	switch cfg.PBX {
	case pbxARI:
		lnk.Subject, err = bus.PBXARISubject(cfg.AccountID)
		pbx = &ariconn.Connector{
			Link: lnk, BaseURL: cfg.Addr, User: cfg.User, Password: cfg.Password, App: cfg.ARIApp, StateDir: cfg.SpoolDir,
		}
	case pbxAMI:
		lnk.Subject, err = bus.PBXAMISubject(cfg.AccountID)
		pbx = &amiconn.Connector{Link: lnk, Addr: cfg.Addr, User: cfg.User, Password: cfg.Password, StateDir: cfg.SpoolDir}
	default:
		lnk.Subject, err = bus.PBXFreeSWITCHSubject(cfg.AccountID)
		fs := &fsconn.Connector{Link: lnk, Addr: cfg.Addr, Password: cfg.Password, StateDir: cfg.SpoolDir}
		if cfg.MediaRoot != "" {
			if fs.Media, err = uploader(cfg, log, m); err != nil {
				return err
			}
			defer fs.Media.Dir.Close()
			mediaRun = fs.Media.Run
		}
		pbx = fs
	}
	if err != nil {
		return err
	}

	checks := &health.Checks{}
	checks.Add("pbx", lnk.Ready)
	checks.Add("nats", bus.ConnectionReady(nc))
	checks.Add("publish", fwd.Ready)
	checks.Add("spool", func(context.Context) error {
		if sp.Bytes() >= sp.MaxBytes() {
			return fmt.Errorf("spool full (%d bytes)", sp.Bytes())
		}
		return nil
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return fwd.Run(gctx) })
	g.Go(func() error { return pbx.Run(gctx) })
	g.Go(func() error { return mediaRun(gctx) })
	g.Go(func() error { return checks.Serve(gctx, cfg.HealthAddr, metrics.Handler(reg), cfg.ShutdownTimeout) })
	log.InfoContext(ctx, "connector started", "pbx", cfg.PBX, "addr", cfg.Addr, telemetry.KeySubject, lnk.Subject)
	return g.Wait()
}

// uploader uploads the recordings under CONNECTOR_MEDIA_ROOT (seen in
// CONNECTOR_MEDIA_DIR) to ingest, its jobs spooled beside the events.
func uploader(cfg settings, log *slog.Logger, m *connmetrics.Metrics) (*media.Uploader, error) {
	dir, err := os.OpenRoot(cfg.MediaDir)
	if err != nil {
		return nil, fmt.Errorf("CONNECTOR_MEDIA_DIR: %w", err)
	}
	jobs, err := spool.Open(filepath.Join(cfg.SpoolDir, "media"), 64<<20, runID())
	if err != nil {
		dir.Close()
		return nil, err
	}
	return &media.Uploader{
		Jobs: jobs, Root: cfg.MediaRoot, Dir: dir, URL: cfg.IngestURL, Token: cfg.IngestToken, AccountID: cfg.AccountID,
		HTTP: &http.Client{Timeout: 30 * time.Minute}, Log: log,
		Uploaded: m.MediaUploaded.Inc, Dropped: m.MediaDropped.Inc,
	}, nil
}

// runID distinguishes this run's spool message ids from an earlier run's.
func runID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
