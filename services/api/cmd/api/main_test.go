package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestReadServeConfig(t *testing.T) {
	t.Parallel()
	valid := map[string]string{
		"NATS_URL":             "nats://127.0.0.1:4222",
		"DATABASE_URL":         "postgres://u@127.0.0.1/db",
		"PBXHOOKS_ADMIN_TOKEN": "0123456789abcdef",
		"MEDIA_LINK_KEYS":      "k1:" + strings.Repeat("k", 32),
	}
	cfg, err := readServeConfig(config.FromMap(valid))
	if err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8080" || cfg.MaxBodyBytes != 65536 || cfg.AdminToken != valid["PBXHOOKS_ADMIN_TOKEN"] ||
		cfg.SecretRotationOverlap != 24*time.Hour || cfg.TestWait != 20*time.Second || cfg.RateLimitRPS != 50 || cfg.RateLimitBurst != 100 {
		t.Fatalf("defaults: %+v", cfg)
	}
	cases := []struct {
		name, key, value, wantVar string
	}{
		{"admin token missing", "PBXHOOKS_ADMIN_TOKEN", "", "PBXHOOKS_ADMIN_TOKEN"},
		{"admin token short", "PBXHOOKS_ADMIN_TOKEN", "short", "PBXHOOKS_ADMIN_TOKEN"},
		{"database missing", "DATABASE_URL", "", "DATABASE_URL"},
		{"nats missing", "NATS_URL", "", "NATS_URL"},
		{"media link keys missing", "MEDIA_LINK_KEYS", "", "MEDIA_LINK_KEYS"},
		{"bad addr", "API_HTTP_ADDR", "8080", "API_HTTP_ADDR"},
		{"body limit not a number", "API_MAX_BODY_BYTES", "64k", "API_MAX_BODY_BYTES"},
		{"body limit too small", "API_MAX_BODY_BYTES", "10", "API_MAX_BODY_BYTES"},
		{"overlap not a duration", "API_SECRET_ROTATION_OVERLAP", "a day", "API_SECRET_ROTATION_OVERLAP"},
		{"test wait over the write timeout", "API_TEST_WAIT", "1m", "API_TEST_WAIT"},
		{"rate zero", "API_RATE_LIMIT_RPS", "0", "API_RATE_LIMIT_RPS"},
		{"burst not a number", "API_RATE_LIMIT_BURST", "lots", "API_RATE_LIMIT_BURST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range valid {
				env[k] = v
			}
			env[tc.key] = tc.value
			_, err := readServeConfig(config.FromMap(env))
			if err == nil || !strings.Contains(err.Error(), tc.wantVar) {
				t.Fatalf("want an error naming %s, got %v", tc.wantVar, err)
			}
		})
	}
	// Every problem is reported at once.
	_, err = readServeConfig(config.FromMap(map[string]string{"PBXHOOKS_ADMIN_TOKEN": "short"}))
	for _, name := range []string{"NATS_URL", "DATABASE_URL", "PBXHOOKS_ADMIN_TOKEN"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	if err := run(t.Context(), []string{"frobnicate"}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("unknown subcommand: %v", err)
	}
}

// TestMigrateThenServe runs the binary's two modes as make run does: migrate,
// then serve until the context ends (what SIGTERM does), which must return
// cleanly. Not parallel: it sets process environment variables.
func TestMigrateThenServe(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	natsServer := testenv.NATS(t)
	addr := freeAddr(t)
	t.Setenv("DATABASE_URL", dsn)
	t.Setenv("NATS_URL", natsServer.URL)
	t.Setenv("API_HTTP_ADDR", addr)
	t.Setenv("PBXHOOKS_ADMIN_TOKEN", "test-admin-token-0123456789")
	t.Setenv("MEDIA_LINK_KEYS", "k1:"+strings.Repeat("k", 32))
	t.Setenv("SHUTDOWN_TIMEOUT", "5s")

	if err := run(t.Context(), []string{"migrate"}); err != nil {
		t.Fatalf("migrate: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil) }()

	testenv.Eventually(t, 30*time.Second, "the API to be ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v", err)
		default:
		}
		return ready(t, "http://"+addr+"/readyz")
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
}

func ready(t *testing.T, url string) bool {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&body) == nil && body.Status == "ready"
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
