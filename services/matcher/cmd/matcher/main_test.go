package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

func TestSettingsDefaults(t *testing.T) {
	t.Parallel()
	s, err := readSettings(config.FromMap(map[string]string{"NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgres://x@127.0.0.1/db"}))
	if err != nil {
		t.Fatalf("readSettings: %v", err)
	}
	if s.HealthAddr != "127.0.0.1:8082" || s.Workers != 8 || s.ResyncInterval != 30*time.Second {
		t.Fatalf("defaults = %+v", s)
	}
}

func TestSettingsErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	_, err := readSettings(config.FromMap(map[string]string{
		"MATCHER_WORKERS": "many", "MATCHER_RESYNC_INTERVAL": "1ms", "MATCHER_HEALTH_ADDR": "nowhere",
	}))
	if err == nil {
		t.Fatal("invalid settings accepted")
	}
	for _, name := range []string{"NATS_URL", "DATABASE_URL", "MATCHER_WORKERS", "MATCHER_RESYNC_INTERVAL", "MATCHER_HEALTH_ADDR"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
