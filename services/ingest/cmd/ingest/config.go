package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/ari"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/consume"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/freeswitch"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/httpapi"
)

// maxRequestBytes bounds one HTTP request, whatever the per-event and batch
// limits multiply to.
const maxRequestBytes = 64 << 20

// DefaultTokenCacheTTL bounds how long a revoked token keeps working on
// ingest, against a database round trip per request from a busy PBX.
const DefaultTokenCacheTTL = 10 * time.Second

// maxVarNameBytes bounds configured channel variable names.
const maxVarNameBytes = 128

// settings is ingest's configuration, read once from the environment.
type settings struct {
	Common   config.Common
	HTTPAddr string
	// DatabaseURL is where account tokens are verified; AdminToken is the
	// deployment's admin token, which may feed every account.
	DatabaseURL string
	AdminToken  string
	// TokenCacheTTL is how long a verified account token is trusted
	// without asking PostgreSQL again: the longest a revoked token keeps
	// feeding events.
	TokenCacheTTL time.Duration
	// TrustedProxies may name the client in X-Forwarded-For, for the
	// failed-authentication throttle.
	TrustedProxies []netip.Prefix
	MaxEventBytes  int
	MaxBatchEvents int
	Workers        int
	PublishTimeout time.Duration
	// AckWait is how long a PBX message may be in process before it is
	// redelivered: after a crash, the wait before the next replica or
	// restart picks up what was in flight.
	AckWait time.Duration
	// FreeSWITCHAccountVar and ARIAccountVar name the channel variable that
	// carries the account on the shared pbx.<source>.any route;
	// ARIDirectionVar may say inbound or outbound.
	FreeSWITCHAccountVar string
	ARIAccountVar        string
	ARIDirectionVar      string
	// ARILinkedIDVar is the channel variable holding the linkedid that
	// groups a call's legs into one thread_id.
	ARILinkedIDVar string
	// FreeSWITCHChannelVars is the allow-list of channel variables (without
	// the variable_ prefix) copied into custom_channel_vars.
	FreeSWITCHChannelVars []string
	// MediaTTL is how long uploaded files are kept; MaxMediaBytes refuses
	// larger ones.
	MediaTTL      time.Duration
	MaxMediaBytes int64
	// BodyIdleTimeout, MinBodyRate and MaxInflightBytes bound request
	// bodies: see httpapi.Limits.
	BodyIdleTimeout  time.Duration
	MinBodyRate      int64
	MaxInflightBytes int64
}

func readSettings(e *config.Env) (settings, error) {
	e.Expect(serviceName)
	s := settings{
		Common:         config.ReadCommon(e),
		HTTPAddr:       e.Addr("INGEST_HTTP_ADDR", "127.0.0.1:8081"),
		DatabaseURL:    config.ReadDatabaseURL(e),
		AdminToken:     credential.ReadAdminToken(e),
		TokenCacheTTL:  e.Duration("INGEST_TOKEN_CACHE_TTL", DefaultTokenCacheTTL, 0, time.Minute),
		TrustedProxies: credential.ReadTrustedProxies(e),
		MaxEventBytes:  e.Int("INGEST_MAX_EVENT_BYTES", 64<<10, 1<<10, 1<<20),
		MaxBatchEvents: e.Int("INGEST_MAX_BATCH_EVENTS", 100, 1, 10_000),
		Workers:        e.Int("INGEST_WORKERS", 16, 1, 1024),
		PublishTimeout: e.Duration("INGEST_PUBLISH_TIMEOUT", 5*time.Second, 100*time.Millisecond, time.Minute),
		AckWait:        e.Duration("INGEST_ACK_WAIT", consume.DefaultAckWait, time.Second, 10*time.Minute),

		FreeSWITCHAccountVar:  e.String("INGEST_FREESWITCH_ACCOUNT_VAR", freeswitch.DefaultAccountVar),
		ARIAccountVar:         e.String("INGEST_ARI_ACCOUNT_VAR", ari.DefaultAccountVar),
		ARIDirectionVar:       e.String("INGEST_ARI_DIRECTION_VAR", ari.DefaultDirectionVar),
		ARILinkedIDVar:        e.String("INGEST_ARI_LINKEDID_VAR", ari.DefaultLinkedIDVar),
		FreeSWITCHChannelVars: splitList(e.String("INGEST_FREESWITCH_CHANNEL_VARS", "")),
		MediaTTL:              e.Duration("INGEST_MEDIA_TTL", bus.DefaultMediaTTL, time.Hour, 365*24*time.Hour),
		MaxMediaBytes:         int64(e.Int("INGEST_MAX_MEDIA_BYTES", 100<<20, 1<<10, 4<<30)),
		BodyIdleTimeout:       e.Duration("INGEST_BODY_IDLE_TIMEOUT", httpapi.DefaultBodyIdleTimeout, time.Second, 10*time.Minute),
		MinBodyRate:           int64(e.Int("INGEST_MIN_BODY_RATE", httpapi.DefaultMinBodyRate, 1<<10, 1<<30)),
		MaxInflightBytes:      int64(e.Int("INGEST_MAX_INFLIGHT_BYTES", httpapi.DefaultMaxInflightBytes, 1<<20, 64<<30)),
	}
	for name, v := range map[string]string{
		"INGEST_FREESWITCH_ACCOUNT_VAR": s.FreeSWITCHAccountVar,
		"INGEST_ARI_ACCOUNT_VAR":        s.ARIAccountVar,
		"INGEST_ARI_DIRECTION_VAR":      s.ARIDirectionVar,
		"INGEST_ARI_LINKEDID_VAR":       s.ARILinkedIDVar,
	} {
		if len(v) > maxVarNameBytes || strings.ContainsAny(v, " \t\r\n\"") {
			return s, fmt.Errorf("invalid configuration: %s must be a channel variable name of at most %d bytes without spaces or quotes", name, maxVarNameBytes)
		}
	}
	if len(s.FreeSWITCHChannelVars) > maxChannelVars {
		return s, fmt.Errorf("invalid configuration: INGEST_FREESWITCH_CHANNEL_VARS lists %d variables; at most %d", len(s.FreeSWITCHChannelVars), maxChannelVars)
	}
	for _, v := range s.FreeSWITCHChannelVars {
		if len(v) > maxVarNameBytes || strings.ContainsAny(v, " \t\r\n\"") {
			return s, fmt.Errorf("invalid configuration: INGEST_FREESWITCH_CHANNEL_VARS: %.64q is not a channel variable name of at most %d bytes without spaces or quotes", v, maxVarNameBytes)
		}
	}
	if err := e.Err(); err != nil {
		return s, err
	}
	if s.AckWait <= s.PublishTimeout {
		// A message must not be redelivered while its publish may still
		// be waiting for JetStream.
		return s, fmt.Errorf("invalid configuration: INGEST_ACK_WAIT (%s) must exceed INGEST_PUBLISH_TIMEOUT (%s)", s.AckWait, s.PublishTimeout)
	}
	if total := s.MaxEventBytes * s.MaxBatchEvents; total > maxRequestBytes {
		return s, fmt.Errorf("invalid configuration: INGEST_MAX_EVENT_BYTES x INGEST_MAX_BATCH_EVENTS is %d bytes; at most %d", total, maxRequestBytes)
	}
	if total := int64(s.MaxEventBytes) * int64(s.MaxBatchEvents); s.MaxInflightBytes < total {
		// A full batch could never be read.
		return s, fmt.Errorf("invalid configuration: INGEST_MAX_INFLIGHT_BYTES (%d) must hold one full batch, INGEST_MAX_EVENT_BYTES x INGEST_MAX_BATCH_EVENTS (%d)", s.MaxInflightBytes, total)
	}
	return s, nil
}

// maxChannelVars bounds the INGEST_FREESWITCH_CHANNEL_VARS allow-list.
const maxChannelVars = 64

// splitList reads a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
