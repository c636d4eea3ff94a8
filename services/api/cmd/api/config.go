package main

import (
	"net/netip"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/pkg/netguard"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// serveConfig is what `api` (serve) reads from the environment.
type serveConfig struct {
	config.Common
	DatabaseURL  string
	HTTPAddr     string
	AdminToken   string
	MaxBodyBytes int64
	// SecretRotationOverlap is how long a rotated-out signing secret keeps
	// signing beside the new one.
	SecretRotationOverlap time.Duration
	// TestWait bounds how long POST .../test waits for its attempt; it
	// stays under the HTTP write timeout (30 s).
	TestWait time.Duration
	// RateLimitRPS and RateLimitBurst are each token's bucket, per replica.
	RateLimitRPS   int
	RateLimitBurst int
	// Media holds the keys that verify signed media download links; the
	// matcher signs with the same MEDIA_LINK_KEYS.
	Media medialink.Config
	// AllowCIDRs are the blocked ranges hook URLs may still name
	// (DELIVERY_ALLOW_CIDRS, the deliverer's own allow list).
	AllowCIDRs []netip.Prefix
	// TrustedProxies may name the client in X-Forwarded-For
	// (AUTH_TRUSTED_PROXY_CIDRS), for the failed-authentication throttle.
	TrustedProxies []netip.Prefix
	// IngestURL is where POST .../simulate sends its test calls
	// (API_INGEST_URL), with the admin token, which ingest shares.
	IngestURL string
	// EventsIndexRetention is how long indexed events stay searchable
	// (API_EVENTS_INDEX_RETENTION), like DELIVERY_ATTEMPT_RETENTION for
	// attempts.
	EventsIndexRetention time.Duration
}

// readServeConfig reads and validates the serving configuration, reporting
// every bad variable at once, each by name.
func readServeConfig(e *config.Env) (serveConfig, error) {
	e.Expect(service)
	cfg := serveConfig{
		Common:       config.ReadCommon(e),
		DatabaseURL:  config.ReadDatabaseURL(e),
		HTTPAddr:     e.Addr("API_HTTP_ADDR", "127.0.0.1:8080"),
		AdminToken:   credential.ReadAdminToken(e),
		MaxBodyBytes: int64(e.Int("API_MAX_BODY_BYTES", 64<<10, 1<<10, 16<<20)),
		SecretRotationOverlap: e.Duration("API_SECRET_ROTATION_OVERLAP",
			httpapi.DefaultSecretRotationOverlap, time.Minute, 30*24*time.Hour),
		TestWait:       e.Duration("API_TEST_WAIT", httpapi.DefaultTestWait, time.Second, 25*time.Second),
		RateLimitRPS:   e.Int("API_RATE_LIMIT_RPS", httpapi.DefaultRateLimit, 1, 1_000_000),
		RateLimitBurst: e.Int("API_RATE_LIMIT_BURST", httpapi.DefaultRateBurst, 1, 1_000_000),
		Media:          medialink.ReadConfig(e),
		AllowCIDRs:     netguard.ReadAllowCIDRs(e),
		TrustedProxies: credential.ReadTrustedProxies(e),
		IngestURL:      e.URL("API_INGEST_URL", "http://127.0.0.1:8081", "http", "https"),
		EventsIndexRetention: e.Duration("API_EVENTS_INDEX_RETENTION", eventindex.DefaultRetention,
			time.Hour, 10*365*24*time.Hour),
	}
	return cfg, e.Err()
}

// migrateConfig is what `api migrate` reads: only the database, so the
// migrate job needs no NATS and no admin token.
type migrateConfig struct {
	DatabaseURL string
	LogLevel    string
}

func readMigrateConfig(e *config.Env) (migrateConfig, error) {
	e.Expect(service)
	cfg := migrateConfig{
		DatabaseURL: config.ReadDatabaseURL(e),
		LogLevel:    e.String("LOG_LEVEL", "info"),
	}
	return cfg, e.Err()
}
