package config

import (
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

// Common is the configuration every service shares.
type Common struct {
	NATSURL string
	// NATSCredentials authenticate to a NATS server that requires them
	// (NATS_USER and NATS_PASSWORD, or NATS_CREDS).
	NATSCredentials bus.Credentials
	LogLevel        string
	// StreamReplicas is how many NATS servers keep each stream (1 or 3).
	StreamReplicas int
	// ShutdownTimeout bounds the drain on SIGTERM.
	ShutdownTimeout time.Duration
	// PprofAddr, when set, is where Go's pprof endpoints are served.
	PprofAddr string
}

// ReadCommon reads NATS_URL, NATS_USER, NATS_PASSWORD, NATS_CREDS,
// LOG_LEVEL, NATS_STREAM_REPLICAS, SHUTDOWN_TIMEOUT and PPROF_ADDR.
func ReadCommon(e *Env) Common {
	return Common{
		NATSURL:         e.Required("NATS_URL", "the NATS server(s) to connect to, e.g. nats://127.0.0.1:4222"),
		NATSCredentials: readNATSCredentials(e),
		LogLevel:        e.String("LOG_LEVEL", "info"),
		StreamReplicas:  e.Int("NATS_STREAM_REPLICAS", 1, 1, 5),
		ShutdownTimeout: e.Duration("SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, time.Second, 10*time.Minute),
		PprofAddr:       e.String("PPROF_ADDR", ""),
	}
}

// ReadDatabaseURL reads DATABASE_URL.
func ReadDatabaseURL(e *Env) string {
	return e.Required("DATABASE_URL", "PostgreSQL connection string, e.g. postgres://user@127.0.0.1:5432/pbxhooks")
}

// readNATSCredentials reads a user and password, or a creds file; half a
// user/password pair, or both kinds at once, is a start-up error.
func readNATSCredentials(e *Env) bus.Credentials {
	c := bus.Credentials{
		User:      e.String("NATS_USER", ""),
		Password:  e.String("NATS_PASSWORD", ""),
		CredsFile: e.String("NATS_CREDS", ""),
	}
	switch {
	case (c.User == "") != (c.Password == ""):
		e.Fail("NATS_USER", "NATS_USER and NATS_PASSWORD must be set together")
	case c.CredsFile != "" && c.User != "":
		e.Fail("NATS_CREDS", "set NATS_CREDS or NATS_USER/NATS_PASSWORD, not both")
	}
	return c
}
