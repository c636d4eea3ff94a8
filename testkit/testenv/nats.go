package testenv

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/testkit/natsembed"
)

// NATSServer is a JetStream-enabled server private to one test.
type NATSServer struct {
	URL string
}

// NATS starts an in-process NATS server with JetStream on a random port and
// a temporary store, shut down when the test ends.
func NATS(t testing.TB) *NATSServer {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: t.TempDir(), ServerName: "test"})
	if err != nil {
		t.Fatalf("start in-process NATS: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return &NATSServer{URL: srv.ClientURL()}
}

// Connect opens a client connection closed at test end.
func (s *NATSServer) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.URL)
	if err != nil {
		t.Fatalf("connect to test NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("JetStream: %v", err)
	}
	return nc, js
}

// JetStream starts a server, creates every pbxhooks stream on it and
// returns a connected client.
func JetStream(t testing.TB) (*NATSServer, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := NATS(t)
	nc, js := srv.Connect(t)
	if err := bus.EnsureStreams(context.Background(), js, bus.DefaultStreamOptions()); err != nil {
		t.Fatalf("create streams: %v", err)
	}
	return srv, nc, js
}
