// Command devstack is what `make run` runs: the whole pbxhooks pipeline on
// this machine, in the foreground. It embeds NATS (unless NATS_URL is set),
// starts a private PostgreSQL under .data/postgres (unless DATABASE_URL is
// set), generates a media link key into .data/media-link-keys on first start
// (unless MEDIA_LINK_KEYS is set), migrates, then runs the four service
// binaries as separate processes and stops them in order on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/testkit/natsembed"
	"github.com/pbxhooks/pbxhooks/testkit/pgcluster"
)

// DevAdminToken is the admin token `make run` uses when PBXHOOKS_ADMIN_TOKEN
// is unset, so the README's curl examples work as written. The API listens on
// 127.0.0.1 only; any real deployment sets its own token.
const DevAdminToken = "pbxhooks-dev-admin-token"

const (
	embeddedNATSPort = 14222
	privatePGPort    = 15432
	databaseName     = "pbxhooks"
)

func main() {
	binDir := flag.String("bin", "bin", "directory holding the built service binaries")
	dataDir := flag.String("data", ".data", "directory for the embedded NATS store and the private PostgreSQL cluster")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "devstack")
	if err := run(*binDir, *dataDir, log); err != nil {
		log.Error("make run failed", "error", err)
		os.Exit(1)
	}
}

func run(binDir, dataDir string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	binDir, err = filepath.Abs(binDir)
	if err != nil {
		return err
	}
	// As root the private PostgreSQL runs as the postgres user, who must be
	// able to enter the data directory; NATS would create it 0700.
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dataDir, err)
	}
	if err := os.Chmod(dataDir, 0o755); err != nil {
		return fmt.Errorf("make %s enterable: %w", dataDir, err)
	}

	natsURL := os.Getenv("NATS_URL")
	if natsURL == "" {
		srv, err := natsembed.Start(natsembed.Options{
			Host: "127.0.0.1", Port: embeddedNATSPort,
			StoreDir: filepath.Join(dataDir, "nats"), ServerName: "pbxhooks-dev",
		})
		if err != nil {
			return fmt.Errorf("embedded NATS on 127.0.0.1:%d (is another `make run` running? set NATS_URL to use your own server): %w", embeddedNATSPort, err)
		}
		defer srv.Shutdown()
		natsURL = srv.ClientURL()
		log.Warn("the embedded NATS has no authentication: any local process may publish and read anything; production uses `api nats-config` (docs/SECURITY.md)", "url", natsURL)
	}

	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{
			DataDir: filepath.Join(dataDir, "postgres"), Host: "127.0.0.1", Port: privatePGPort,
			Log: os.Stderr,
		})
		if err != nil {
			return fmt.Errorf("private PostgreSQL under %s (set DATABASE_URL to use your own server): %w", filepath.Join(dataDir, "postgres"), err)
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cluster.Stop(stopCtx); err != nil {
				log.Warn("stop PostgreSQL", "error", err)
			}
		}()
		if err := ensureDatabase(ctx, cluster.URL("postgres"), databaseName); err != nil {
			return err
		}
		databaseURL = cluster.URL(databaseName)
	}

	adminToken := os.Getenv("PBXHOOKS_ADMIN_TOKEN")
	if adminToken == "" {
		adminToken = DevAdminToken
	}
	allow, ok := os.LookupEnv("DELIVERY_ALLOW_CIDRS")
	if !ok {
		// Local receivers (a curl target, a netcat) live on loopback; a
		// production deployment leaves this empty.
		allow = "127.0.0.0/8,::1/128"
	}
	linkKeys, err := mediaLinkKeys(dataDir, log)
	if err != nil {
		return err
	}
	cfg := stack.Config{
		BinDir: binDir, NATSURL: natsURL, DatabaseURL: databaseURL, AdminToken: adminToken,
		AllowCIDRs: allow, MediaLinkKeys: linkKeys, Out: stack.SyncWriter(os.Stdout),
		APIAddr: os.Getenv("API_HTTP_ADDR"), IngestAddr: os.Getenv("INGEST_HTTP_ADDR"),
		MatcherAddr: os.Getenv("MATCHER_HEALTH_ADDR"), DelivererAddr: os.Getenv("DELIVERER_HEALTH_ADDR"),
	}
	if err := stack.Migrate(ctx, cfg); err != nil {
		return err
	}
	services, err := stack.StartAll(ctx, cfg)
	if err != nil {
		return err
	}
	printBanner(cfg)

	select {
	case <-ctx.Done():
		log.Info("stopping: intake first, then matcher, then deliverer")
	case p := <-services.Exited():
		log.Error("a service exited; stopping the rest", "service", p.Name, "error", p.Err())
		err = errors.Join(err, fmt.Errorf("%s exited: %v", p.Name, p.Err()))
	}
	if stopErr := services.Stop(25 * time.Second); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	return err
}

// mediaLinkKeysFile keeps the media link key `make run` generated, so links
// sent before a restart keep working after it.
const mediaLinkKeysFile = "media-link-keys"

// mediaLinkKeys is MEDIA_LINK_KEYS for the matcher and the api: the
// caller's when set, else the key kept under dataDir, made on first start
// from 32 random bytes. There is no built-in key: one in the source would
// let anyone forge links to anyone's recordings.
func mediaLinkKeys(dataDir string, log *slog.Logger) (string, error) {
	if spec := strings.TrimSpace(os.Getenv("MEDIA_LINK_KEYS")); spec != "" {
		return spec, nil
	}
	path := filepath.Join(dataDir, mediaLinkKeysFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		spec, err := medialink.NewKeySpec("dev")
		if err != nil {
			return "", err
		}
		// O_EXCL: two launchers racing on one data directory must not
		// hand out different keys.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("create media link key file %s: %w", path, err)
		}
		if _, err := f.WriteString(spec + "\n"); err != nil {
			f.Close()
			return "", fmt.Errorf("write media link key file %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("write media link key file %s: %w", path, err)
		}
		log.Info("generated a media link key", "file", path)
		return spec, nil
	}
	if err != nil {
		return "", fmt.Errorf("read media link key file %s: %w", path, err)
	}
	spec := strings.TrimSpace(string(raw))
	if _, err := medialink.ParseKeys(spec); err != nil {
		return "", fmt.Errorf("media link key file %s: %w (delete it to generate a new key)", path, err)
	}
	return spec, nil
}

// ensureDatabase creates the pbxhooks database in a fresh private cluster.
func ensureDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to private PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func printBanner(cfg stack.Config) {
	fmt.Fprintf(os.Stderr, `
pbxhooks is running. Ctrl-C stops it.

  API            http://%s
  ingest (HTTP)  http://%s
  NATS           %s   (PBXs publish native events on pbx.events.<account_id>)
  admin token    %s   (API and ingest; give PBXs a token with scope "pbx", README)

  Create a hook (README, "Try it with curl"):
  curl -X PUT -H "X-Auth-Token: %s" -H "Content-Type: application/json" \
    http://%s/v1/accounts/demo/webhooks \
    -d '{"data":{"name":"New Calls","uri":"http://127.0.0.1:9000/calls/new","hook":"channel_create"}}'

`, cfg.Addr("api"), cfg.Addr("ingest"), cfg.NATSURL, cfg.AdminToken, cfg.AdminToken, cfg.Addr("api"))
}
