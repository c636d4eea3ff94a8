package config

import "time"

// Common is the configuration every service shares.
type Common struct {
	NATSURL  string
	LogLevel string
	// StreamReplicas is how many NATS servers keep each stream (1 or 3).
	StreamReplicas int
	// ShutdownTimeout bounds the drain on SIGTERM.
	ShutdownTimeout time.Duration
	// PprofAddr, when set, is where Go's pprof endpoints are served.
	PprofAddr string
}

// ReadCommon reads NATS_URL, LOG_LEVEL, NATS_STREAM_REPLICAS,
// SHUTDOWN_TIMEOUT and PPROF_ADDR.
func ReadCommon(e *Env) Common {
	return Common{
		NATSURL:         e.Required("NATS_URL", "the NATS server(s) to connect to, e.g. nats://127.0.0.1:4222"),
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
