package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
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

// SecuredNATS starts an in-process NATS server whose only users are the ones
// `api nats-config` generates (natsauth) for the services and the given
// accounts' PBXs, shut down when the test ends. It returns the server's URL
// and every user's password, by user name.
func SecuredNATS(t testing.TB, accounts ...string) (string, map[string]string) {
	t.Helper()
	users, passwords, err := natsauth.Users(accounts, nil)
	if err != nil {
		t.Fatalf("generate NATS users: %v", err)
	}
	// The lowest cost: the server checks a hash per connection, and the
	// tests are not what the hashes protect.
	conf, err := natsauth.Render(users, bcrypt.MinCost)
	if err != nil {
		t.Fatalf("render NATS configuration: %v", err)
	}
	dir := t.TempDir()
	confPath := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatalf("write NATS configuration: %v", err)
	}
	srv, err := natsembed.Start(natsembed.Options{Port: -1, StoreDir: filepath.Join(dir, "js"), ConfigFile: confPath})
	if err != nil {
		t.Fatalf("start secured in-process NATS: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv.ClientURL(), passwords
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
