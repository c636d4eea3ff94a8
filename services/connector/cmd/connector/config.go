package main

import (
	"fmt"

	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// PBX kinds CONNECTOR_PBX accepts. Only FreeSWITCH is implemented; the
// Asterisk kinds are refused until their connectors exist.
const pbxFreeSWITCH = "freeswitch"

// anyAccount is CONNECTOR_ACCOUNT_ID for a PBX shared by tenants: each
// event names its account in a channel variable ingest reads.
const anyAccount = "any"

type settings struct {
	config.Common
	PBX           string
	Addr          string
	Password      string
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
		Addr:          e.Required("CONNECTOR_ADDR", "the PBX's event socket, host:port (FreeSWITCH: port 8021)"),
		Password:      e.Required("CONNECTOR_PASSWORD", "the event socket password (event_socket.conf.xml)"),
		AccountID:     e.Required("CONNECTOR_ACCOUNT_ID", "the account the PBX belongs to, or any"),
		SpoolDir:      e.Required("CONNECTOR_SPOOL_DIR", "a directory on persistent storage for the spool"),
		SpoolMaxBytes: int64(e.Int("CONNECTOR_SPOOL_MAX_BYTES", 1<<30, 1<<20, 1<<40)),
		HealthAddr:    e.Addr("CONNECTOR_HEALTH_ADDR", "127.0.0.1:8084"),
	}
	if s.PBX != pbxFreeSWITCH {
		e.Fail("CONNECTOR_PBX", "must be freeswitch (the Asterisk connectors are not implemented yet), got %q", s.PBX)
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
