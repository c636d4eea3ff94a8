package main

import (
	"fmt"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

// maxRequestBytes bounds one HTTP request, whatever the per-event and batch
// limits multiply to.
const maxRequestBytes = 64 << 20

// settings is ingest's configuration, read once from the environment.
type settings struct {
	Common         config.Common
	HTTPAddr       string
	MaxEventBytes  int
	MaxBatchEvents int
	Workers        int
	PublishTimeout time.Duration
}

func readSettings(e *config.Env) (settings, error) {
	s := settings{
		Common:         config.ReadCommon(e),
		HTTPAddr:       e.Addr("INGEST_HTTP_ADDR", "127.0.0.1:8081"),
		MaxEventBytes:  e.Int("INGEST_MAX_EVENT_BYTES", 64<<10, 1<<10, 1<<20),
		MaxBatchEvents: e.Int("INGEST_MAX_BATCH_EVENTS", 100, 1, 10_000),
		Workers:        e.Int("INGEST_WORKERS", 16, 1, 1024),
		PublishTimeout: e.Duration("INGEST_PUBLISH_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute),
	}
	if err := e.Err(); err != nil {
		return s, err
	}
	if total := s.MaxEventBytes * s.MaxBatchEvents; total > maxRequestBytes {
		return s, fmt.Errorf("invalid configuration: INGEST_MAX_EVENT_BYTES x INGEST_MAX_BATCH_EVENTS is %d bytes; at most %d", total, maxRequestBytes)
	}
	return s, nil
}
