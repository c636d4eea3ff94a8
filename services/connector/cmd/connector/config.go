package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// PBX kinds CONNECTOR_PBX accepts. AMI (asterisk-ami) is refused until
// its connector exists.
const (
	pbxFreeSWITCH = "freeswitch"
	pbxARI        = "asterisk-ari"
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
}

func readSettings(e *config.Env) (settings, error) {
	e.Expect(serviceName)
	s := settings{
		Common:        config.ReadCommon(e),
		PBX:           e.String("CONNECTOR_PBX", pbxFreeSWITCH),
		Addr:          e.Required("CONNECTOR_ADDR", "FreeSWITCH's event socket host:port (port 8021), or Asterisk's HTTP base URL such as http://pbx:8088"),
		User:          e.String("CONNECTOR_USER", ""),
		Password:      e.Required("CONNECTOR_PASSWORD", "the event socket password (event_socket.conf.xml) or the ARI user's (ari.conf)"),
		ARIApp:        e.String("CONNECTOR_ARI_APP", "pbxhooks"),
		AccountID:     e.Required("CONNECTOR_ACCOUNT_ID", "the account the PBX belongs to, or any"),
		SpoolDir:      e.Required("CONNECTOR_SPOOL_DIR", "a directory on persistent storage for the spool"),
		SpoolMaxBytes: int64(e.Int("CONNECTOR_SPOOL_MAX_BYTES", 1<<30, 1<<20, 1<<40)),
		HealthAddr:    e.Addr("CONNECTOR_HEALTH_ADDR", "127.0.0.1:8084"),
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
	default:
		e.Fail("CONNECTOR_PBX", "must be freeswitch or asterisk-ari (asterisk-ami is not implemented yet), got %q", s.PBX)
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
