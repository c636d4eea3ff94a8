package config

import (
	"slices"
	"time"
)

// DefaultShutdownTimeout is SHUTDOWN_TIMEOUT when unset; deployments size
// their termination grace period above it.
const DefaultShutdownTimeout = 20 * time.Second

// commonVariables are read by every service: ReadCommon's, and the
// OpenTelemetry exporter endpoints pkg/telemetry looks at.
var commonVariables = []string{
	"NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_CREDS", "LOG_LEVEL", "NATS_STREAM_REPLICAS",
	"SHUTDOWN_TIMEOUT", "PPROF_ADDR",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
}

// mediaLinkVariables are read by medialink.ReadConfig.
var mediaLinkVariables = []string{"MEDIA_LINK_KEYS", "MEDIA_LINK_TTL", "PUBLIC_BASE_URL"}

// serviceVariables is, per service, what it reads beyond commonVariables.
var serviceVariables = map[string][]string{
	"api": append([]string{
		"DATABASE_URL", "API_HTTP_ADDR", "PBXHOOKS_ADMIN_TOKEN", "API_MAX_BODY_BYTES",
		"API_SECRET_ROTATION_OVERLAP", "API_TEST_WAIT", "API_RATE_LIMIT_RPS",
		"API_RATE_LIMIT_BURST", "DELIVERY_ALLOW_CIDRS", "AUTH_TRUSTED_PROXY_CIDRS",
		"API_EVENTS_INDEX_RETENTION", "API_INGEST_URL",
	}, mediaLinkVariables...),
	"ingest": {
		"DATABASE_URL", "PBXHOOKS_ADMIN_TOKEN", "INGEST_TOKEN_CACHE_TTL", "AUTH_TRUSTED_PROXY_CIDRS",
		"INGEST_HTTP_ADDR", "INGEST_MAX_EVENT_BYTES", "INGEST_MAX_BATCH_EVENTS", "INGEST_WORKERS",
		"INGEST_PUBLISH_TIMEOUT", "INGEST_ACK_WAIT", "INGEST_FREESWITCH_ACCOUNT_VAR",
		"INGEST_ARI_ACCOUNT_VAR", "INGEST_ARI_DIRECTION_VAR", "INGEST_MEDIA_TTL",
		"INGEST_MAX_MEDIA_BYTES", "INGEST_BODY_IDLE_TIMEOUT", "INGEST_MIN_BODY_RATE", "INGEST_MAX_INFLIGHT_BYTES",
		"INGEST_ARI_LINKEDID_VAR", "INGEST_FREESWITCH_CHANNEL_VARS",
	},
	"connector": {
		"CONNECTOR_PBX", "CONNECTOR_ADDR", "CONNECTOR_USER", "CONNECTOR_PASSWORD", "CONNECTOR_ARI_APP",
		"CONNECTOR_ACCOUNT_ID", "CONNECTOR_SPOOL_DIR", "CONNECTOR_SPOOL_MAX_BYTES", "CONNECTOR_HEALTH_ADDR",
		"CONNECTOR_MEDIA_ROOT", "CONNECTOR_MEDIA_DIR", "CONNECTOR_INGEST_URL", "CONNECTOR_INGEST_TOKEN",
	},
	"matcher": append([]string{
		"DATABASE_URL", "MATCHER_HEALTH_ADDR", "MATCHER_WORKERS", "MATCHER_RESYNC_INTERVAL",
		"MATCHER_HOOK_RELOAD_WAIT",
	}, mediaLinkVariables...),
	"deliverer": {
		"DATABASE_URL", "DELIVERER_HEALTH_ADDR", "DELIVERER_WORKERS", "DELIVERER_PARKED_WORKERS",
		"DELIVERY_CONNECT_TIMEOUT", "DELIVERY_TIMEOUT", "DELIVERY_ALLOW_CIDRS",
		"DELIVERY_MAX_RESPONSE_BYTES", "DELIVERY_MAX_ACK_PENDING", "DELIVERY_HOOK_CACHE_TTL",
		"DELIVERY_MAX_PER_ENDPOINT", "DELIVERY_BREAKER_FAILURES", "DELIVERY_BREAKER_COOLDOWN",
		"DELIVERY_ATTEMPT_FAILURE_COUNT", "DELIVERY_ATTEMPT_FAILURE_EXPIRY",
		"DELIVERY_ATTEMPT_RETENTION",
	},
}

// Variables returns every environment variable the named service reads
// ("api", "ingest", "matcher" or "deliverer"; nil for any other name). It is
// the one list of them: each service's loader calls Env.Expect with its
// name, which makes reading an unlisted variable a configuration error, and
// the deployment checks (deployments/k8s/check) refuse a manifest that sets
// a variable not listed here.
func Variables(service string) []string {
	own, ok := serviceVariables[service]
	if !ok {
		return nil
	}
	return slices.Concat(commonVariables, own)
}

// Services returns the names Variables knows, sorted.
func Services() []string {
	names := make([]string, 0, len(serviceVariables))
	for name := range serviceVariables {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
