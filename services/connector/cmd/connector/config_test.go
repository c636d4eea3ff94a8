package main

import (
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

func env(over map[string]string) *config.Env {
	m := map[string]string{
		"NATS_URL": "nats://127.0.0.1:4222", "CONNECTOR_ADDR": "127.0.0.1:8021", "CONNECTOR_PASSWORD": "secret",
		"CONNECTOR_ACCOUNT_ID": "acme", "CONNECTOR_SPOOL_DIR": "/var/lib/connector",
	}
	for k, v := range over {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return config.FromMap(m)
}

func TestSettings(t *testing.T) {
	t.Parallel()
	s, err := readSettings(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.PBX != "freeswitch" || s.HealthAddr != "127.0.0.1:8084" || s.SpoolMaxBytes != 1<<30 || s.AccountID != "acme" {
		t.Errorf("defaults: %+v", s)
	}
	if s, err := readSettings(env(map[string]string{"CONNECTOR_ACCOUNT_ID": "any"})); err != nil || s.AccountID != "any" {
		t.Errorf("any: %v %v", s.AccountID, err)
	}
	ari, err := readSettings(env(map[string]string{"CONNECTOR_PBX": "asterisk-ari", "CONNECTOR_ADDR": "http://pbx:8088", "CONNECTOR_USER": "pbxhooks"}))
	if err != nil || ari.ARIApp != "pbxhooks" || ari.User != "pbxhooks" {
		t.Errorf("asterisk-ari: %+v %v", ari, err)
	}
	if _, err := readSettings(env(map[string]string{"CONNECTOR_PBX": "asterisk-ari", "CONNECTOR_USER": "u"})); err == nil || !strings.Contains(err.Error(), "CONNECTOR_ADDR") {
		t.Errorf("asterisk-ari with host:port: %v, want CONNECTOR_ADDR refused", err)
	}
	if s, err := readSettings(env(map[string]string{"CONNECTOR_PBX": "asterisk-ami", "CONNECTOR_ADDR": "pbx:5038", "CONNECTOR_USER": "pbxhooks"})); err != nil || s.User != "pbxhooks" {
		t.Errorf("asterisk-ami: %+v %v", s, err)
	}
	if _, err := readSettings(env(map[string]string{"CONNECTOR_PBX": "asterisk-ami"})); err == nil || !strings.Contains(err.Error(), "CONNECTOR_USER") {
		t.Errorf("asterisk-ami without a user: %v", err)
	}
	media := map[string]string{"CONNECTOR_MEDIA_ROOT": "/srv/fs", "CONNECTOR_INGEST_URL": "http://ingest:8081", "CONNECTOR_INGEST_TOKEN": "t"}
	if s, err := readSettings(env(media)); err != nil || s.MediaDir != "/srv/fs" {
		t.Errorf("media upload: %+v %v", s, err)
	}
	for name, over := range map[string]map[string]string{
		"CONNECTOR_INGEST_URL":   {"CONNECTOR_INGEST_URL": "ingest:8081"},
		"CONNECTOR_INGEST_TOKEN": {"CONNECTOR_INGEST_TOKEN": ""},
		"CONNECTOR_MEDIA_ROOT":   {"CONNECTOR_ACCOUNT_ID": "any"},
	} {
		m := map[string]string{}
		for k, v := range media {
			m[k] = v
		}
		for k, v := range over {
			m[k] = v
		}
		if _, err := readSettings(env(m)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("media upload, %s: %v, want an error naming it", name, err)
		}
	}
	for name, over := range map[string]map[string]string{
		"CONNECTOR_PBX":             {"CONNECTOR_PBX": "kamailio"},
		"CONNECTOR_USER":            {"CONNECTOR_PBX": "asterisk-ari", "CONNECTOR_ADDR": "http://pbx:8088"},
		"CONNECTOR_ACCOUNT_ID":      {"CONNECTOR_ACCOUNT_ID": "a.b"},
		"CONNECTOR_ADDR":            {"CONNECTOR_ADDR": ""},
		"CONNECTOR_SPOOL_DIR":       {"CONNECTOR_SPOOL_DIR": ""},
		"CONNECTOR_PASSWORD":        {"CONNECTOR_PASSWORD": ""},
		"CONNECTOR_SPOOL_MAX_BYTES": {"CONNECTOR_SPOOL_MAX_BYTES": "10"},
	} {
		_, err := readSettings(env(over))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming it", name, err)
		}
	}
}
