// Package natsembed runs a NATS server with JetStream inside the current
// process. `make run` uses it when NATS_URL is unset, and tests use it to get
// a real, private broker on a random port.
package natsembed

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options choose where the embedded server listens and stores.
type Options struct {
	// Host and Port to listen on; Port -1 picks a random free port.
	Host string
	Port int
	// StoreDir holds JetStream's files.
	StoreDir string
	// ServerName identifies the server in logs and cluster metadata.
	ServerName string
	// ConfigFile, when set, is a nats-server configuration read first (for
	// example one including the `api nats-config` users); the options above
	// override its listen address and store.
	ConfigFile string
}

// Server is a running embedded NATS server.
type Server struct {
	srv *server.Server
}

// Start starts the server and waits until it accepts clients.
func Start(opts Options) (*Server, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.ServerName == "" {
		opts.ServerName = "pbxhooks-embedded"
	}
	sopts := &server.Options{}
	if opts.ConfigFile != "" {
		var err error
		if sopts, err = server.ProcessConfigFile(opts.ConfigFile); err != nil {
			return nil, fmt.Errorf("read NATS configuration: %w", err)
		}
	}
	sopts.ServerName = opts.ServerName
	sopts.Host, sopts.Port = opts.Host, opts.Port
	sopts.JetStream, sopts.StoreDir = true, opts.StoreDir
	sopts.NoSigs = true
	// Deliveries carry rendered payloads; leave room above the default.
	sopts.MaxPayload = 8 << 20
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("configure embedded NATS: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s:%d did not become ready", opts.Host, opts.Port)
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
