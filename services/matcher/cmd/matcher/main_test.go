package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

func TestSettingsDefaults(t *testing.T) {
	t.Parallel()
	s, err := readSettings(config.FromMap(map[string]string{"NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgres://x@127.0.0.1/db",
		"MEDIA_LINK_KEYS": "k1:" + strings.Repeat("k", 32)}))
	if err != nil {
		t.Fatalf("readSettings: %v", err)
	}
	if s.HealthAddr != "127.0.0.1:8082" || s.Workers != 8 || s.ResyncInterval != 30*time.Second || s.PendingWait != 2*time.Second {
		t.Fatalf("defaults = %+v", s)
	}
	if len(s.MediaLinks.Keys) != 1 || s.MediaLinks.TTL != 24*time.Hour || s.MediaLinks.PublicBaseURL != "http://127.0.0.1:8080" {
		t.Fatalf("media link defaults = %+v", s.MediaLinks)
	}
}

func TestSettingsErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	_, err := readSettings(config.FromMap(map[string]string{
		"MATCHER_WORKERS": "many", "MATCHER_RESYNC_INTERVAL": "1ms", "MATCHER_HEALTH_ADDR": "nowhere",
		"MATCHER_HOOK_RELOAD_WAIT": "2h", "MEDIA_LINK_KEYS": "k:short", "PUBLIC_BASE_URL": "/relative",
	}))
	if err == nil {
		t.Fatal("invalid settings accepted")
	}
	for _, name := range []string{"NATS_URL", "DATABASE_URL", "MATCHER_WORKERS", "MATCHER_RESYNC_INTERVAL", "MATCHER_HEALTH_ADDR", "MATCHER_HOOK_RELOAD_WAIT", "MEDIA_LINK_KEYS", "PUBLIC_BASE_URL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
