package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// PBX kinds CONNECTOR_PBX accepts.
const (
	pbxFreeSWITCH = "freeswitch"
	pbxARI        = "asterisk-ari"
	pbxAMI        = "asterisk-ami"
)

// anyAccount is CONNECTOR_ACCOUNT_ID for a PBX shared by tenants: each
// event names its account in a channel variable ingest reads.
const anyAccount = "any"

type settings struct {
	config.Common
	PBX           string
	Addr          string
	User          string
	Password      string
	ARIApp        string
	AccountID     string
	SpoolDir      string
	SpoolMaxBytes int64
	HealthAddr    string
	// Media upload (FreeSWITCH): the recordings directory as the PBX names
	// it, where the connector sees it, and ingest's media route.
	MediaRoot, MediaDir, IngestURL, IngestToken string
}

func readSettings(e *config.Env) (settings, error) {
	e.Expect(serviceName)
	s := settings{
		Common:        config.ReadCommon(e),
		PBX:           e.String("CONNECTOR_PBX", pbxFreeSWITCH),
		Addr:          e.Required("CONNECTOR_ADDR", "FreeSWITCH's event socket or Asterisk's AMI host:port (ports 8021, 5038), or Asterisk's HTTP base URL such as http://pbx:8088 for ARI"),
		User:          e.String("CONNECTOR_USER", ""),
		Password:      e.Required("CONNECTOR_PASSWORD", "the event socket password (event_socket.conf.xml), or the ARI (ari.conf) or AMI (manager.conf) user's"),
		ARIApp:        e.String("CONNECTOR_ARI_APP", "pbxhooks"),
		AccountID:     e.Required("CONNECTOR_ACCOUNT_ID", "the account the PBX belongs to, or any"),
		SpoolDir:      e.Required("CONNECTOR_SPOOL_DIR", "a directory on persistent storage for the spool"),
		SpoolMaxBytes: int64(e.Int("CONNECTOR_SPOOL_MAX_BYTES", 1<<30, 1<<20, 1<<40)),
		HealthAddr:    e.Addr("CONNECTOR_HEALTH_ADDR", "127.0.0.1:8084"),
		MediaRoot:     e.String("CONNECTOR_MEDIA_ROOT", ""),
		MediaDir:      e.String("CONNECTOR_MEDIA_DIR", ""),
		IngestURL:     e.String("CONNECTOR_INGEST_URL", ""),
		IngestToken:   e.String("CONNECTOR_INGEST_TOKEN", ""),
	}
	if s.MediaDir == "" {
		s.MediaDir = s.MediaRoot
	}
	if s.MediaRoot != "" {
		if s.PBX != pbxFreeSWITCH {
			e.Fail("CONNECTOR_MEDIA_ROOT", "media upload is implemented for freeswitch only")
		}
		if !strings.HasPrefix(s.MediaRoot, "/") {
			e.Fail("CONNECTOR_MEDIA_ROOT", "must be an absolute path, as FreeSWITCH names its files")
		}
		if u, err := url.Parse(s.IngestURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			e.Fail("CONNECTOR_INGEST_URL", "must be ingest's base URL such as http://ingest:8081 when CONNECTOR_MEDIA_ROOT is set")
		}
		if s.IngestToken == "" {
			e.Fail("CONNECTOR_INGEST_TOKEN", "is required when CONNECTOR_MEDIA_ROOT is set (a pbx token of the account)")
		}
		if s.AccountID == anyAccount {
			e.Fail("CONNECTOR_MEDIA_ROOT", "needs a real CONNECTOR_ACCOUNT_ID: ingest stores media under one account")
		}
	}
	switch s.PBX {
	case pbxFreeSWITCH:
	case pbxARI:
		if s.User == "" {
			e.Fail("CONNECTOR_USER", "is required for asterisk-ari (the ari.conf user)")
		}
		if u, err := url.Parse(s.Addr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			e.Fail("CONNECTOR_ADDR", "must be Asterisk's HTTP base URL such as http://pbx:8088 for asterisk-ari, got %q", s.Addr)
		}
		if s.ARIApp == "" || strings.ContainsAny(s.ARIApp, " /?&#") {
			e.Fail("CONNECTOR_ARI_APP", "must be an ARI application name without spaces or URL delimiters")
		}
	case pbxAMI:
		if s.User == "" {
			e.Fail("CONNECTOR_USER", "is required for asterisk-ami (the manager.conf user)")
		}
	default:
		e.Fail("CONNECTOR_PBX", "must be freeswitch, asterisk-ari or asterisk-ami, got %q", s.PBX)
	}
	if s.AccountID != anyAccount && s.AccountID != "" {
		if err := event.ValidateAccountID(s.AccountID); err != nil {
			e.Fail("CONNECTOR_ACCOUNT_ID", "%v", err)
		}
	}
	if err := e.Err(); err != nil {
		return s, err
	}
	if s.Addr == "" || s.SpoolDir == "" {
		return s, fmt.Errorf("invalid configuration: CONNECTOR_ADDR and CONNECTOR_SPOOL_DIR are required")
	}
	return s, nil
}
