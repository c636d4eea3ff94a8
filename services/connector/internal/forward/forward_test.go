package forward

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// TestPublishesAsTheAccountsPBXUser runs the forwarder against a NATS
// server configured as `api nats-config` prints it: the connector's PBX
// user of account acme gets its PubAcks on the PBX inbox prefix, so
// events are acknowledged and removed from the spool, in order; an
// event for another account's subject is refused and stays spooled.
func TestPublishesAsTheAccountsPBXUser(t *testing.T) {
	t.Parallel()
	url, passwords := testenv.SecuredNATS(t, "acme")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ingestUser := natsauth.ServiceUser(natsauth.ServiceIngest)
	inc, ijs, err := bus.Connect(url, natsauth.ServiceIngest, bus.Credentials{User: ingestUser, Password: passwords[ingestUser]}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer inc.Close()
	if err := bus.EnsureStreams(t.Context(), ijs, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	pbxUser := natsauth.PBXUser("acme")
	nc, js, err := bus.ConnectPBX(url, "connector", "acme", bus.Credentials{User: pbxUser, Password: passwords[pbxUser]}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sp, err := spool.Open(t.TempDir(), 1<<20, "run1")
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"pbx.freeswitch.acme", "pbx.ari.acme", "pbx.ami.acme", "pbx.freeswitch.globex"} {
		if err := sp.Append(subject, []byte(subject)); err != nil {
			t.Fatal(err)
		}
	}
	f := &Forwarder{Spool: sp, JS: js, Log: log, PublishTimeout: 500 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(15 * time.Second)
	for sp.Len() > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if sp.Len() != 1 {
		t.Fatalf("%d events spooled, want only globex's", sp.Len())
	}
	rec, _, _, _ := sp.Oldest()
	if rec.Subject != "pbx.freeswitch.globex" {
		t.Errorf("left in the spool: %s", rec.Subject)
	}
	for f.Ready(t.Context()) == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.Ready(t.Context()); err == nil {
		t.Error("ready while JetStream refuses the oldest event")
	}
	// Read back as ingest does, through its durable consumer.
	cons, err := ijs.CreateOrUpdateConsumer(t.Context(), bus.StreamPBX, jetstream.ConsumerConfig{
		Durable: bus.ConsumerIngest, AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubjects: []string{bus.SubjectPBXFreeSWITCHAll, bus.SubjectPBXARIAll, bus.SubjectPBXAMIAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range batch.Messages() {
		got = append(got, m.Subject())
	}
	if want := []string{"pbx.freeswitch.acme", "pbx.ari.acme", "pbx.ami.acme"}; !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v in that order", got, want)
	}
}
