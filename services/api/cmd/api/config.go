package main

import (
	"errors"
	"fmt"

	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/services/api/internal/httpapi"
)

// serveConfig is what `api` (serve) reads from the environment.
type serveConfig struct {
	config.Common
	DatabaseURL  string
	HTTPAddr     string
	AdminToken   string
	MaxBodyBytes int64
}

// readServeConfig reads and validates the serving configuration, reporting
// every bad variable at once, each by name.
func readServeConfig(e *config.Env) (serveConfig, error) {
	cfg := serveConfig{
		Common:       config.ReadCommon(e),
		DatabaseURL:  config.ReadDatabaseURL(e),
		HTTPAddr:     e.Addr("API_HTTP_ADDR", "127.0.0.1:8080"),
		AdminToken:   e.Required("PBXHOOKS_ADMIN_TOKEN", "the token that administers every account"),
		MaxBodyBytes: int64(e.Int("API_MAX_BODY_BYTES", 64<<10, 1<<10, 16<<20)),
	}
	err := e.Err()
	if cfg.AdminToken != "" && len(cfg.AdminToken) < httpapi.MinAdminTokenLength {
		tokenErr := fmt.Errorf("PBXHOOKS_ADMIN_TOKEN: must be at least %d characters", httpapi.MinAdminTokenLength)
		if err == nil {
			err = fmt.Errorf("invalid configuration: %w", tokenErr)
		} else {
			err = errors.Join(err, tokenErr)
		}
	}
	return cfg, err
}

// migrateConfig is what `api migrate` reads: only the database, so the
// migrate job needs no NATS and no admin token.
type migrateConfig struct {
	DatabaseURL string
	LogLevel    string
}

func readMigrateConfig(e *config.Env) (migrateConfig, error) {
	cfg := migrateConfig{
		DatabaseURL: config.ReadDatabaseURL(e),
		LogLevel:    e.String("LOG_LEVEL", "info"),
	}
	return cfg, e.Err()
}
