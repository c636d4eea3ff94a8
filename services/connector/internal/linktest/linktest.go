// Package linktest runs a PBX connector with its spool and forwarder
// against a JetStream server in tests, and reads back what reached the PBX
// stream: the setup the amiconn, ariconn and fsconn tests share.
package linktest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/forward"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/link"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
)

// Rig is one connector's surroundings in a test.
type Rig struct {
	Link  *link.Link
	Spool *spool.Spool
	Fwd   *forward.Forwarder
	// Dir holds the spool; the connector's state directory too.
	Dir string
}

// Connector is what Start runs: any of the PBX links.
type Connector interface {
	Run(ctx context.Context) error
}

// Start opens a spool of spoolMax bytes, a forwarder to natsURL (account
// acct1) and a link on subject, lets build make the connector over them,
// and runs the forwarder and the connector until the test ends.
func Start(t *testing.T, natsURL, subject string, spoolMax int64, build func(*Rig) Connector) *Rig {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	sp, err := spool.Open(dir, spoolMax, "run1")
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := bus.ConnectPBX(natsURL, "connector-test", "acct1", bus.Credentials{}, log)
	if err != nil {
		t.Fatal(err)
	}
	r := &Rig{
		Link:  &link.Link{Subject: subject, Spool: sp, Log: log},
		Spool: sp,
		Fwd:   &forward.Forwarder{Spool: sp, JS: js, Log: log, PublishTimeout: time.Second},
		Dir:   dir,
	}
	conn := build(r)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.Fwd.Run(ctx) }()
	go func() { defer wg.Done(); _ = conn.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); nc.Close() })
	return r
}

// Stored reads the PBX stream in order; a message on another subject
// than subject fails the test.
func Stored(t *testing.T, js jetstream.JetStream, subject string) [][]byte {
	t.Helper()
	s, err := js.Stream(t.Context(), bus.StreamPBX)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != subject {
			t.Errorf("message %d on %s, want %s", seq, m.Subject, subject)
		}
		out = append(out, m.Data)
	}
	return out
}
