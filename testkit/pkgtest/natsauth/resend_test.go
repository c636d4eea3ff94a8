package natsauth_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
)

// TestResendRequestsPassFromAPIToMatcherOnly makes the calls of a resend
// with the generated users: the API requests, the matcher reads EVENTS back
// with a short-lived consumer of its own, stores the delivery and answers on
// the API's inbox. A PBX may not ask for resends.
func TestResendRequestsPassFromAPIToMatcherOnly(t *testing.T) {
	t.Parallel()
	url, passwords := securedServer(t)
	ingest := ingestClient(t, url, passwords)
	ctx := t.Context()
	subject, err := bus.CallEventSubject(acme, "incoming_call", "ringing")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ingest.js.Publish(ctx, subject, []byte("event")); err != nil {
		t.Fatal(err)
	}

	matcherUser := natsauth.ServiceUser(natsauth.ServiceMatcher)
	matcher := connect(t, url, matcherUser, passwords[matcherUser], bus.ServiceInboxPrefix(natsauth.ServiceMatcher))
	found := make(chan error, 1)
	sub, err := matcher.nc.QueueSubscribe(bus.SubjectResendRequests, bus.QueueMatcher, func(m *nats.Msg) {
		filter, _ := bus.AccountEventsSubject(acme)
		start := time.Now().Add(-time.Hour)
		cons, err := matcher.js.CreateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
			Name: "resend-0123456789abcdef-0", FilterSubject: filter, DeliverPolicy: jetstream.DeliverByStartTimePolicy,
			OptStartTime: &start, AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, InactiveThreshold: time.Minute,
		})
		if err != nil {
			found <- err
			return
		}
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
		if err == nil {
			read := 0
			for range batch.Messages() {
				read++
			}
			if read != 1 {
				err = batch.Error()
			}
		}
		if err == nil {
			err = matcher.js.DeleteConsumer(ctx, bus.StreamEvents, cons.CachedInfo().Name)
		}
		if err == nil {
			delivery, _ := bus.DeliverySubject(acme, "hook1")
			_, err = matcher.js.Publish(ctx, delivery, []byte("delivery"), jetstream.WithMsgID(bus.ResendMsgID("0123456789abcdef", "ev:hook1")))
		}
		found <- err
		reply, _ := json.Marshal(bus.ResendReply{})
		_ = m.Respond(reply)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := matcher.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	apiUser := natsauth.ServiceUser(natsauth.ServiceAPI)
	api := connect(t, url, apiUser, passwords[apiUser], bus.ServiceInboxPrefix(natsauth.ServiceAPI))
	request, _ := json.Marshal(bus.ResendRequest{AccountID: acme, HookID: "hook1", EventID: "ev", ResendID: "0123456789abcdef", EventStoredBefore: time.Now()})
	answer, err := api.nc.RequestWithContext(ctx, bus.SubjectResendRequests, request)
	if err != nil {
		t.Fatalf("the API's resend request: %v", err)
	}
	var reply bus.ResendReply
	if err := json.Unmarshal(answer.Data, &reply); err != nil || reply.Error != "" {
		t.Fatalf("reply %s: %v", answer.Data, err)
	}
	if err := <-found; err != nil {
		t.Fatalf("the matcher's resend calls: %v", err)
	}
	for _, c := range []*client{api, matcher} {
		c.mu.Lock()
		if len(c.errs) > 0 {
			t.Errorf("permission errors: %v", c.errs)
		}
		c.mu.Unlock()
	}

	pbx := pbxClient(t, url, passwords, acme)
	if err := pbx.nc.Publish(bus.SubjectResendRequests, request); err != nil {
		t.Fatal(err)
	}
	pbx.waitViolation(t, bus.SubjectResendRequests)
}
