package main

import (
	"net/netip"
	"slices"
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
	if s.HealthAddr != "127.0.0.1:8083" || s.Workers != 64 || s.ConnectTimeout != 5*time.Second || s.Timeout != 15*time.Second ||
		s.MaxResponseBytes != 65536 || len(s.AllowCIDRs) != 0 {
		t.Fatalf("defaults = %+v", s)
	}
	if s.MaxPerEndpoint != 8 || s.BreakerFailures != 10 || s.BreakerCooldown != 30*time.Second ||
		s.AttemptFailureCount != 6 || s.AttemptFailureExpiry != time.Minute || s.AttemptRetention != 720*time.Hour ||
		s.MaxAckPending != 50_000 || s.HookCacheTTL != 30*time.Second {
		t.Fatalf("delivery defaults = %+v", s)
	}
}

func TestSettingsParseAllowList(t *testing.T) {
	t.Parallel()
	s, err := readSettings(config.FromMap(map[string]string{
		"NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgres://x@127.0.0.1/db",
		"DELIVERY_ALLOW_CIDRS": "127.0.0.0/8, ::1/128",
	}))
	if err != nil {
		t.Fatalf("readSettings: %v", err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(s.AllowCIDRs, want) {
		t.Fatalf("AllowCIDRs = %v, want %v", s.AllowCIDRs, want)
	}
}

func TestSettingsErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	_, err := readSettings(config.FromMap(map[string]string{
		"DELIVERY_ALLOW_CIDRS": "localhost", "DELIVERY_TIMEOUT": "soon", "DELIVERER_WORKERS": "0",
		"DELIVERY_MAX_PER_ENDPOINT": "0", "DELIVERY_ATTEMPT_FAILURE_COUNT": "many", "DELIVERY_ATTEMPT_RETENTION": "1s",
	}))
	if err == nil {
		t.Fatal("invalid settings accepted")
	}
	for _, name := range []string{"NATS_URL", "DATABASE_URL", "DELIVERY_ALLOW_CIDRS", "DELIVERY_TIMEOUT", "DELIVERER_WORKERS",
		"DELIVERY_MAX_PER_ENDPOINT", "DELIVERY_ATTEMPT_FAILURE_COUNT", "DELIVERY_ATTEMPT_RETENTION"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}
