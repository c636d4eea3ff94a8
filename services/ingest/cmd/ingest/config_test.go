package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

func TestReadSettingsDefaults(t *testing.T) {
	t.Parallel()
	s, err := readSettings(config.FromMap(map[string]string{"NATS_URL": "nats://127.0.0.1:4222",
		"DATABASE_URL": "postgres://127.0.0.1/pbxhooks", "PBXHOOKS_ADMIN_TOKEN": "admin-token-0123456789"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.HTTPAddr != "127.0.0.1:8081" || s.MaxEventBytes != 65536 || s.MaxBatchEvents != 100 || s.Workers != 16 || s.PublishTimeout != 5*time.Second {
		t.Errorf("defaults %+v", s)
	}
	if s.FreeSWITCHAccountVar != "variable_account_id" || s.ARIAccountVar != "account_id" || s.ARIDirectionVar != "direction" || s.MediaTTL != 168*time.Hour || s.MaxMediaBytes != 100<<20 {
		t.Errorf("defaults %+v", s)
	}
	if s.TokenCacheTTL != 10*time.Second {
		t.Errorf("INGEST_TOKEN_CACHE_TTL default %v", s.TokenCacheTTL)
	}
	if s.BodyIdleTimeout != 20*time.Second || s.MinBodyRate != 64<<10 || s.MaxInflightBytes != 32<<20 {
		t.Errorf("body limits %v %d %d", s.BodyIdleTimeout, s.MinBodyRate, s.MaxInflightBytes)
	}
}

func TestReadSettingsNamesBadVariables(t *testing.T) {
	t.Parallel()
	tests := map[string]map[string]string{
		"INGEST_MAX_EVENT_BYTES":        {"INGEST_MAX_EVENT_BYTES": "512"},
		"INGEST_HTTP_ADDR":              {"INGEST_HTTP_ADDR": "8081"},
		"INGEST_WORKERS":                {"INGEST_WORKERS": "lots"},
		"INGEST_PUBLISH_TIMEOUT":        {"INGEST_PUBLISH_TIMEOUT": "5"},
		"INGEST_MAX_BATCH_EVENTS":       {"INGEST_MAX_EVENT_BYTES": "1048576", "INGEST_MAX_BATCH_EVENTS": "100"},
		"NATS_URL":                      {"NATS_URL": ""},
		"INGEST_MEDIA_TTL":              {"INGEST_MEDIA_TTL": "1s"},
		"INGEST_MAX_MEDIA_BYTES":        {"INGEST_MAX_MEDIA_BYTES": "big"},
		"INGEST_ARI_ACCOUNT_VAR":        {"INGEST_ARI_ACCOUNT_VAR": "account id"},
		"INGEST_FREESWITCH_ACCOUNT_VAR": {"INGEST_FREESWITCH_ACCOUNT_VAR": "variable_\"x"},
		"DATABASE_URL":                  {"DATABASE_URL": ""},
		"PBXHOOKS_ADMIN_TOKEN":          {"PBXHOOKS_ADMIN_TOKEN": "short"},
		"INGEST_TOKEN_CACHE_TTL":        {"INGEST_TOKEN_CACHE_TTL": "1h"},
		"AUTH_TRUSTED_PROXY_CIDRS":      {"AUTH_TRUSTED_PROXY_CIDRS": "10.0.0.0/8,ingress"},
		"INGEST_BODY_IDLE_TIMEOUT":      {"INGEST_BODY_IDLE_TIMEOUT": "0s"},
		"INGEST_MIN_BODY_RATE":          {"INGEST_MIN_BODY_RATE": "10"},
		"INGEST_MAX_INFLIGHT_BYTES":     {"INGEST_MAX_EVENT_BYTES": "1048576", "INGEST_MAX_BATCH_EVENTS": "60", "INGEST_MAX_INFLIGHT_BYTES": "33554432"},
	}
	for name, env := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for k, v := range map[string]string{"NATS_URL": "nats://127.0.0.1:4222",
				"DATABASE_URL": "postgres://127.0.0.1/pbxhooks", "PBXHOOKS_ADMIN_TOKEN": "admin-token-0123456789"} {
				if _, ok := env[k]; !ok {
					env[k] = v
				}
			}
			_, err := readSettings(config.FromMap(env))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("error %v does not name %s", err, name)
			}
		})
	}
}
