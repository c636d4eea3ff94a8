// Package natsauth is the NATS permission layout of a production
// deployment: one nats-server user per pbxhooks service, allowed exactly the
// subjects and JetStream API calls that service makes, and one user per PBX
// account, allowed to publish only that account's input subjects and to read
// only its own replies. `api nats-config` renders it as a nats-server
// configuration (see Render); docs/SECURITY.md explains it.
//
// The layout is derived from pkg/bus's stream, subject, consumer and bucket
// names, so renaming one there changes the permissions with it. The tests
// run each service's real calls against a server with this configuration.
package natsauth

import (
	"fmt"
	"slices"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
)

// The pbxhooks services, by the name they connect with (bus.Connect).
const (
	ServiceAPI       = "api"
	ServiceIngest    = "ingest"
	ServiceMatcher   = "matcher"
	ServiceDeliverer = "deliverer"
)

// Services lists every service that gets a user.
var Services = []string{ServiceAPI, ServiceIngest, ServiceMatcher, ServiceDeliverer}

// ServiceUser is the nats-server user name of a service: svc-<service>.
func ServiceUser(service string) string { return "svc-" + service }

// PBXUser is the nats-server user name of an account's PBXs: pbx-<account>.
func PBXUser(accountID string) string { return "pbx-" + accountID }

// Permissions are the subjects a user may publish to and subscribe to;
// everything else is denied by the server.
type Permissions struct {
	Publish   []string
	Subscribe []string
	// AllowResponses lets the user answer the requests it receives: publish
	// once to each received message's reply subject, and nowhere else
	// (nats-server's allow_responses).
	AllowResponses bool
}

// PBXPermissions confine a PBX connector of one account: it may publish its
// own account's native, FreeSWITCH, ARI and AMI subjects (captured by the PBX
// stream) and receive the PubAcks on its own inbox prefix
// (bus.PBXInboxPrefix). It gets no JetStream API at all, so it can neither
// read nor alter any stream, consumer or the media bucket.
//
// The account "any" is the multi-tenant route of FreeSWITCH and ARI input,
// where each event names its account: a PBX user for "any" speaks for every
// account and is for a PBX trusted with all of them.
func PBXPermissions(accountID string) (Permissions, error) {
	var pub []string
	for _, subject := range []func(string) (string, error){bus.PBXNativeSubject, bus.PBXFreeSWITCHSubject, bus.PBXARISubject, bus.PBXAMISubject} {
		s, err := subject(accountID)
		if err != nil {
			return Permissions{}, fmt.Errorf("PBX user: %w", err)
		}
		pub = append(pub, s)
	}
	return Permissions{Publish: pub, Subscribe: []string{bus.PBXInboxPrefix(accountID) + ".>"}}, nil
}

// mediaStream is the stream behind the media Object Store bucket.
const mediaStream = "OBJ_" + bus.MediaBucket

// ServicePermissions are what one service needs, and no more:
//
//   - every service manages the pbxhooks streams (bus.EnsureStreams runs at
//     each one's start-up) and reads account info (readiness);
//   - each consumes only its own durable consumers, acks only their
//     messages, and publishes only the subjects it produces;
//   - only ingest writes the media bucket (so only ingest, after checking
//     the account, records an object's owner); the api reads it, the
//     matcher reads object info to check ownership;
//   - replies come only on the service's own inbox prefix, and the
//     matcher's answers to the API's resend requests on the API's.
func ServicePermissions(service string) (Permissions, error) {
	pub := []string{"$JS.API.INFO"}
	for _, s := range []string{bus.StreamPBX, bus.StreamEvents, bus.StreamDeliveries, bus.StreamParked, bus.StreamDeadLetter, bus.StreamHookChanges} {
		pub = append(pub, streamManagement(s)...)
	}
	sub := []string{bus.ServiceInboxPrefix(service) + ".>"}
	deadLetters := []string{bus.SubjectDeadLetter, bus.SubjectDeadLetterAccounts}

	switch service {
	case ServiceIngest:
		pub = append(pub, durableConsumer(bus.StreamPBX, bus.ConsumerIngest)...)
		pub = append(pub, durableConsumer(bus.StreamPBX, bus.ConsumerIngestOrdered)...)
		pub = append(pub, kvReadWriter(bus.ChannelStateBucket)...)
		pub = append(pub, bus.SubjectEventsAll)
		pub = append(pub, deadLetters...)
		pub = append(pub, mediaWriter()...)
	case ServiceMatcher:
		pub = append(pub, durableConsumer(bus.StreamEvents, bus.ConsumerMatcher)...)
		// A resend reads EVENTS back with short-lived consumers of its own
		// and answers the API's request on the API's inbox.
		pub = append(pub, anyConsumer(bus.StreamEvents)...)
		pub = append(pub, bus.ServiceInboxPrefix(ServiceAPI)+".>")
		pub = append(pub, bus.SubjectDeliveriesAll)
		pub = append(pub, deadLetters...)
		pub = append(pub, mediaInfoReader()...)
		sub = append(sub, bus.SubjectResendRequests)
		// Hook-change notices: an ordered consumer reads them, and the
		// newest one's sequence is read to tell whether the cache is stale.
		pub = append(pub, anyConsumer(bus.StreamHookChanges)...)
		pub = append(pub, messageGets(bus.StreamHookChanges)...)
	case ServiceDeliverer:
		pub = append(pub, durableConsumer(bus.StreamDeliveries, bus.ConsumerDeliverer)...)
		// One durable consumer per parked endpoint, named by a hash.
		pub = append(pub, anyConsumer(bus.StreamParked)...)
		pub = append(pub, bus.SubjectParkedAll)
		pub = append(pub, deadLetters...)
		pub = append(pub, bus.HooksChangedAll, bus.HooksDisabledAll)
		// Relay hooks' requests, answered on the deliverer's own inbox.
		pub = append(pub, bus.SubjectRelayAll)
		// A notice per recorded attempt, for the API's live stream.
		pub = append(pub, bus.AttemptNoticesAll)
		sub = append(sub, bus.HooksChangedAll)
	case ServiceAPI:
		// Test events of POST .../webhooks/{id}/test and hook-change notices.
		pub = append(pub, bus.SubjectEventsAll, bus.HooksChangedAll)
		// Resend requests to the matcher (POST .../deliveries/{id}/resend).
		pub = append(pub, bus.SubjectResendRequests)
		// The dead-letter listing reads with short-lived consumers and
		// direct message gets.
		pub = append(pub, anyConsumer(bus.StreamDeadLetter)...)
		pub = append(pub, messageGets(bus.StreamDeadLetter)...)
		pub = append(pub, mediaReader()...)
		// The relay requests of the listeners connected to this replica,
		// each answered on the asking deliverer's inbox (allow_responses),
		// so the API needs no publish right on any inbox.
		sub = append(sub, bus.SubjectRelayAll)
		// The events index's shared durable consumer.
		pub = append(pub, durableConsumer(bus.StreamEvents, bus.ConsumerEventsIndex)...)
		// The live stream (GET .../stream) subscribes per connection to
		// one account's events and attempt notices.
		sub = append(sub, bus.SubjectEventsAll, bus.AttemptNoticesAll)
	default:
		return Permissions{}, fmt.Errorf("no NATS permissions for unknown service %q", service)
	}
	return Permissions{Publish: compact(pub), Subscribe: compact(sub), AllowResponses: service == ServiceAPI}, nil
}

// streamManagement creates, updates and inspects one stream: what
// CreateOrUpdateStream and Stream(ctx, name) send.
func streamManagement(stream string) []string {
	return []string{
		"$JS.API.STREAM.CREATE." + stream,
		"$JS.API.STREAM.UPDATE." + stream,
		"$JS.API.STREAM.INFO." + stream,
	}
}

// durableConsumer creates (with or without a filter subject in the API
// subject), inspects and pulls from one named consumer, and acks its
// messages.
func durableConsumer(stream, name string) []string {
	return []string{
		"$JS.API.CONSUMER.CREATE." + stream + "." + name,
		"$JS.API.CONSUMER.CREATE." + stream + "." + name + ".>",
		"$JS.API.CONSUMER.INFO." + stream + "." + name,
		"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + name,
		"$JS.ACK." + stream + "." + name + ".>",
	}
}

// anyConsumer is durableConsumer for every consumer of a stream, plus
// deleting them: for streams whose consumers are made at run time.
func anyConsumer(stream string) []string {
	return []string{
		"$JS.API.CONSUMER.CREATE." + stream + ".>",
		"$JS.API.CONSUMER.INFO." + stream + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
		"$JS.API.CONSUMER.DELETE." + stream + ".*",
		"$JS.ACK." + stream + ".>",
	}
}

// messageGets reads single messages by sequence or last-per-subject.
func messageGets(stream string) []string {
	return []string{
		"$JS.API.STREAM.MSG.GET." + stream,
		"$JS.API.DIRECT.GET." + stream,
		"$JS.API.DIRECT.GET." + stream + ".>",
	}
}

// mediaInfoReader binds the media bucket and reads object info (its
// metadata message).
func mediaInfoReader() []string {
	return append([]string{"$JS.API.STREAM.INFO." + mediaStream}, messageGets(mediaStream)...)
}

// mediaReader also reads objects' chunks, through the ordered push consumer
// the Object Store client makes per Get (with flow control replies).
func mediaReader() []string {
	return append(mediaInfoReader(),
		"$JS.API.CONSUMER.CREATE."+mediaStream,
		"$JS.API.CONSUMER.CREATE."+mediaStream+".>",
		"$JS.API.CONSUMER.DELETE."+mediaStream+".*",
		"$JS.FC."+mediaStream+".>",
	)
}

// mediaWriter creates the bucket and puts, describes and deletes objects.
func mediaWriter() []string {
	return append(mediaInfoReader(),
		"$JS.API.STREAM.CREATE."+mediaStream,
		"$JS.API.STREAM.UPDATE."+mediaStream,
		"$JS.API.STREAM.PURGE."+mediaStream,
		"$O."+bus.MediaBucket+".>",
	)
}

// kvReadWriter creates a Key-Value bucket and gets and puts its keys.
func kvReadWriter(bucket string) []string {
	stream := "KV_" + bucket
	return append(append(streamManagement(stream), messageGets(stream)...), "$KV."+bucket+".>")
}

// compact drops repeats, keeping the first occurrence's order.
func compact(subjects []string) []string {
	out := make([]string, 0, len(subjects))
	for _, s := range subjects {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
