package natsauth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const (
	acme   = "acme"
	globex = "globex"
)

// securedServer starts an in-process nats-server whose only users are the
// generated ones, for the accounts acme and globex, and returns its URL and
// every user's password.
func securedServer(t *testing.T) (string, map[string]string) {
	t.Helper()
	return testenv.SecuredNATS(t, acme, globex)
}

// client is a connection that records the asynchronous errors (permission
// violations) the server sends it.
type client struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu   sync.Mutex
	errs []error
}

func connect(t *testing.T, url, user, password, inboxPrefix string) *client {
	t.Helper()
	c := &client{}
	opts := []nats.Option{
		nats.UserInfo(user, password),
		// The server checks a bcrypt hash per connection: slow under -race
		// on a busy machine.
		nats.Timeout(30 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			c.mu.Lock()
			c.errs = append(c.errs, err)
			c.mu.Unlock()
		}),
	}
	if inboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(inboxPrefix))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitViolation waits until the server reported a permission violation
// naming subject (or, for a subject ending in a dot, one under it).
func (c *client) waitViolation(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, err := range c.errs {
			if errors.Is(err, nats.ErrPermissionViolation) && violationNames(err, subject) {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("no permission violation for %q; errors: %v", subject, c.errs)
}

func violationNames(err error, subject string) bool {
	if strings.HasSuffix(subject, ".") {
		return strings.Contains(err.Error(), `"`+subject)
	}
	return strings.Contains(err.Error(), `"`+subject+`"`)
}

func ingestClient(t *testing.T, url string, passwords map[string]string) *client {
	t.Helper()
	user := natsauth.ServiceUser(natsauth.ServiceIngest)
	c := connect(t, url, user, passwords[user], bus.ServiceInboxPrefix(natsauth.ServiceIngest))
	if err := bus.EnsureStreams(t.Context(), c.js, bus.DefaultStreamOptions()); err != nil {
		t.Fatalf("ingest ensures the streams: %v", err)
	}
	return c
}

func pbxClient(t *testing.T, url string, passwords map[string]string, account string) *client {
	t.Helper()
	user := natsauth.PBXUser(account)
	return connect(t, url, user, passwords[user], bus.PBXInboxPrefix(account))
}

func TestPBXPublishesOnlyItsOwnAccountsSubjects(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	ingest := ingestClient(t, url, passwords)
	pbx := pbxClient(t, url, passwords, acme)

	for _, subject := range []string{"pbx.events.acme", "pbx.freeswitch.acme", "pbx.ari.acme", "pbx.ami.acme"} {
		if _, err := pbx.js.Publish(t.Context(), subject, []byte(`{"event":"channel_create"}`)); err != nil {
			t.Fatalf("acme's PBX publishes on %s: %v", subject, err)
		}
	}
	for _, subject := range []string{"pbx.events.globex", "pbx.freeswitch.any", "events.globex.call.incoming_call.ringing", "deliveries.globex.h1"} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := pbx.js.Publish(ctx, subject, []byte(`{"event":"channel_create"}`))
		cancel()
		if err == nil {
			t.Fatalf("acme's PBX got a PubAck for %s", subject)
		}
		pbx.waitViolation(t, subject)
	}

	// Nothing of the refused publishes reached a stream.
	for stream, want := range map[string]uint64{bus.StreamPBX: 4, bus.StreamEvents: 0, bus.StreamDeliveries: 0} {
		s, err := ingest.js.Stream(t.Context(), stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(t.Context(), jetstream.WithSubjectFilter(">"))
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != want {
			t.Errorf("stream %s holds %d messages, want %d (subjects %v)", stream, info.State.Msgs, want, info.State.Subjects)
		}
		for subject := range info.State.Subjects {
			if strings.Contains(subject, globex) || strings.HasSuffix(subject, ".any") {
				t.Errorf("stream %s holds a message on %s", stream, subject)
			}
		}
	}
}

func TestPBXHasNoJetStreamAPIAndReadsOnlyItsInbox(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	ingestClient(t, url, passwords)
	pbx := pbxClient(t, url, passwords, acme)

	for _, stream := range []string{bus.StreamEvents, bus.StreamDeliveries, bus.StreamPBX} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := pbx.js.Stream(ctx, stream)
		cancel()
		if err == nil {
			t.Fatalf("acme's PBX read stream %s's info", stream)
		}
		pbx.waitViolation(t, "$JS.API.STREAM.INFO."+stream)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err := pbx.js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "spy"})
	cancel()
	if err == nil {
		t.Fatal("acme's PBX created a consumer on EVENTS")
	}
	pbx.waitViolation(t, "$JS.API.CONSUMER.CREATE.EVENTS.spy")
	ctx, cancel = context.WithTimeout(t.Context(), time.Second)
	_, err = pbx.js.ObjectStore(ctx, bus.MediaBucket)
	cancel()
	if err == nil {
		t.Fatal("acme's PBX bound the media bucket")
	}
	pbx.waitViolation(t, "$JS.API.STREAM.INFO.OBJ_media")
	if err := pbx.nc.Publish("$O.media.M.bWVkaWE", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	pbx.waitViolation(t, "$O.media.M.bWVkaWE")

	// Reading other traffic: EVENTS' subjects, another account's replies,
	// a service's replies. The server refuses each subscription.
	for _, subject := range []string{"events.>", "deliveries.>", bus.PBXInboxPrefix(globex) + ".>", bus.ServiceInboxPrefix(natsauth.ServiceIngest) + ".>", "_INBOX.>", ">"} {
		if _, err := pbx.nc.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		pbx.waitViolation(t, subject)
	}
}

func TestPBXWithoutItsInboxPrefixGetsNoPubAck(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	ingestClient(t, url, passwords)
	user := natsauth.PBXUser(acme)
	pbx := connect(t, url, user, passwords[user], "")
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := pbx.js.Publish(ctx, "pbx.events.acme", []byte(`{}`)); err == nil {
		t.Fatal("a PBX on the default _INBOX prefix got its PubAck")
	}
	pbx.waitViolation(t, "_INBOX.")
}

func TestConnectionsNeedAGeneratedUser(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	if nc, err := nats.Connect(url, nats.Timeout(30*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("no credentials: %v, want an authorization violation", err)
	}
	if nc, err := nats.Connect(url, nats.Timeout(30*time.Second), nats.UserInfo(natsauth.PBXUser(acme), passwords[natsauth.PBXUser(globex)])); err == nil {
		nc.Close()
		t.Fatal("acme's PBX user connected with globex's password")
	}
}

func TestGivenPasswordsAreKept(t *testing.T) {
	t.Parallel()
	given := map[string]string{natsauth.PBXUser(acme): "acme-pbx-password-0123456789"}
	users, passwords, err := natsauth.Users([]string{acme, acme}, given)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != len(natsauth.Services)+1 {
		t.Fatalf("%d users, want the four services and one PBX", len(users))
	}
	if passwords[natsauth.PBXUser(acme)] != given[natsauth.PBXUser(acme)] {
		t.Fatal("the given password was replaced")
	}
	for _, svc := range natsauth.Services {
		if len(passwords[natsauth.ServiceUser(svc)]) < natsauth.MinPasswordBytes {
			t.Fatalf("service %s has no generated password", svc)
		}
	}
	parsed, err := natsauth.ParseSecrets(natsauth.FormatSecrets(passwords))
	if err != nil || len(parsed) != len(passwords) {
		t.Fatalf("secrets round trip: %v, %d of %d", err, len(parsed), len(passwords))
	}
	for name, pw := range passwords {
		if parsed[name] != pw {
			t.Fatalf("secrets round trip lost %s", name)
		}
	}
	if _, _, err := natsauth.Users([]string{"bad.account"}, nil); err == nil {
		t.Fatal("an account id with a dot was accepted")
	}
	if _, _, err := natsauth.Users(nil, map[string]string{natsauth.ServiceUser(natsauth.ServiceAPI): "short"}); err == nil {
		t.Fatal("a short password was accepted")
	}
}

// TestDelivererParksAndDrainsWithItsUser makes, as svc-deliverer, the calls
// the deliverer's parking makes at run time (the end-to-end test does not
// park): copy a delivery to an endpoint's parked subject, find the
// endpoint in the stream's subjects, make its consumer, fetch, double-ack,
// read the consumer's info and delete it; then the hook notices.
func TestDelivererParksAndDrainsWithItsUser(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	ingestClient(t, url, passwords)
	user := natsauth.ServiceUser(natsauth.ServiceDeliverer)
	d := connect(t, url, user, passwords[user], bus.ServiceInboxPrefix(natsauth.ServiceDeliverer))
	ctx := t.Context()

	const endpoint = "https://hooks.example.com:443"
	subject, err := bus.ParkedSubject(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.js.Publish(ctx, subject, []byte("delivery")); err != nil {
		t.Fatalf("park: %v", err)
	}
	stream, err := d.js.Stream(ctx, bus.StreamParked)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.SubjectParkedAll))
	if err != nil || info.State.Subjects[subject] != 1 {
		t.Fatalf("parked subjects: %v, %v", info, err)
	}
	cons, err := d.js.CreateOrUpdateConsumer(ctx, bus.StreamParked, jetstream.ConsumerConfig{
		Durable: bus.ParkedConsumer(endpoint), FilterSubject: subject,
		AckPolicy: jetstream.AckExplicitPolicy, InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatalf("endpoint consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	for msg := range batch.Messages() {
		fetched++
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	if fetched != 1 || batch.Error() != nil {
		t.Fatalf("fetched %d, %v", fetched, batch.Error())
	}
	if _, err := cons.Info(ctx); err != nil {
		t.Fatalf("consumer info: %v", err)
	}
	if err := d.js.DeleteConsumer(ctx, bus.StreamParked, bus.ParkedConsumer(endpoint)); err != nil {
		t.Fatalf("delete consumer: %v", err)
	}

	sub, err := d.nc.SubscribeSync(bus.HooksChangedAll)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.nc.Publish(bus.HooksDisabledSubject(acme), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := d.nc.Publish(bus.HooksChangedSubject(acme), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("hooks.changed notice: %v", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) > 0 {
		t.Fatalf("the deliverer's user hit: %v", d.errs)
	}
}

// TestRelayRequestReachesTheAPIAndItsAnswerTheDeliverer runs the relay
// hand-off with the generated users: the deliverer asks on a relay subject,
// the API (subscribed to every relay subject) answers on the deliverer's
// inbox through allow_responses, and may publish to no inbox otherwise; a
// PBX may neither ask nor listen on a relay subject.
func TestRelayRequestReachesTheAPIAndItsAnswerTheDeliverer(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	apiUser := natsauth.ServiceUser(natsauth.ServiceAPI)
	api := connect(t, url, apiUser, passwords[apiUser], bus.ServiceInboxPrefix(natsauth.ServiceAPI))
	delivererUser := natsauth.ServiceUser(natsauth.ServiceDeliverer)
	d := connect(t, url, delivererUser, passwords[delivererUser], bus.ServiceInboxPrefix(natsauth.ServiceDeliverer))

	subject, err := bus.RelaySubject(acme, "0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := api.nc.Subscribe(subject, func(m *nats.Msg) {
		if err := m.Respond([]byte("answer to " + string(m.Data))); err != nil {
			t.Errorf("respond: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := api.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	reply, err := d.nc.Request(subject, []byte("request"), 10*time.Second)
	if err != nil {
		t.Fatalf("relay request: %v", err)
	}
	if string(reply.Data) != "answer to request" {
		t.Fatalf("reply %q", reply.Data)
	}

	// allow_responses grants the reply only: not the deliverer's inbox.
	if err := api.nc.Publish(bus.ServiceInboxPrefix(natsauth.ServiceDeliverer)+".forged", []byte("x")); err != nil {
		t.Fatal(err)
	}
	api.waitViolation(t, bus.ServiceInboxPrefix(natsauth.ServiceDeliverer)+".forged")

	pbx := pbxClient(t, url, passwords, acme)
	if err := pbx.nc.Publish(subject, []byte("x")); err != nil {
		t.Fatal(err)
	}
	pbx.waitViolation(t, subject)
	if _, err := pbx.nc.SubscribeSync(subject); err != nil {
		t.Fatal(err)
	}
	pbx.waitViolation(t, subject)

	for _, c := range []*client{api, d} {
		c.mu.Lock()
		for _, err := range c.errs {
			if !strings.Contains(err.Error(), ".forged") {
				t.Errorf("unexpected violation: %v", err)
			}
		}
		c.mu.Unlock()
	}
}

// TestAPIIndexesAndStreamsEventsWithItsUser makes, as svc-api, the calls of
// the events index (its shared durable consumer on EVENTS: create, fetch,
// ack) and of the live stream (core subscriptions to one account's events
// and attempt notices), with the deliverer publishing a notice as its own
// user.
func TestAPIIndexesAndStreamsEventsWithItsUser(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	ingest := ingestClient(t, url, passwords)
	apiUser := natsauth.ServiceUser(natsauth.ServiceAPI)
	api := connect(t, url, apiUser, passwords[apiUser], bus.ServiceInboxPrefix(natsauth.ServiceAPI))
	delivererUser := natsauth.ServiceUser(natsauth.ServiceDeliverer)
	deliverer := connect(t, url, delivererUser, passwords[delivererUser], bus.ServiceInboxPrefix(natsauth.ServiceDeliverer))
	ctx := t.Context()

	eventsSubject, err := bus.AccountEvents(acme)
	if err != nil {
		t.Fatal(err)
	}
	liveEvents, err := api.nc.SubscribeSync(eventsSubject)
	if err != nil {
		t.Fatal(err)
	}
	noticesSubject, err := bus.AccountAttemptNotices(acme)
	if err != nil {
		t.Fatal(err)
	}
	liveNotices, err := api.nc.SubscribeSync(noticesSubject)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	if _, err := ingest.js.Publish(ctx, "events.acme.call.incoming_call.ringing", []byte("event")); err != nil {
		t.Fatalf("ingest publishes an event: %v", err)
	}
	if _, err := liveEvents.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("the API's live subscription missed the event: %v", err)
	}
	notice, err := bus.AttemptNoticeSubject(acme, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if err := deliverer.nc.Publish(notice, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := liveNotices.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("the API's live subscription missed the attempt notice: %v", err)
	}

	cons, err := api.js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: bus.ConsumerEventsIndex, AckPolicy: jetstream.AckExplicitPolicy, FilterSubjects: []string{bus.SubjectEventsAll},
	})
	if err != nil {
		t.Fatalf("events-index consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	for msg := range batch.Messages() {
		fetched++
		if err := msg.DoubleAck(ctx); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	if fetched != 1 || batch.Error() != nil {
		t.Fatalf("fetched %d, %v", fetched, batch.Error())
	}
	for _, c := range []*client{api, deliverer} {
		c.mu.Lock()
		errs := c.errs
		c.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("a service user hit: %v", errs)
		}
	}

	// The deliverer reads no live traffic: it may publish notices, not
	// subscribe to events.
	if _, err := deliverer.nc.SubscribeSync(eventsSubject); err != nil {
		t.Fatal(err)
	}
	deliverer.waitViolation(t, eventsSubject)
}
