package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DedupeWindow is how long JetStream remembers a Nats-Msg-Id on EVENTS,
// DELIVERIES and PBX. Ten minutes covers a PBX or service that retries after
// a restart; a longer window costs memory per stored id.
const DedupeWindow = 10 * time.Minute

// StreamOptions are the deployment-dependent stream settings.
type StreamOptions struct {
	// Replicas is 1 on a single server and 3 on a three-node cluster.
	Replicas int
	// EventsMaxAge bounds how long canonical events are kept for replay.
	EventsMaxAge time.Duration
}

// DefaultStreamOptions suits a single NATS server.
func DefaultStreamOptions() StreamOptions {
	return StreamOptions{Replicas: 1, EventsMaxAge: 7 * 24 * time.Hour}
}

// StreamConfigs returns the configuration of every stream pbxhooks uses.
func StreamConfigs(opts StreamOptions) []jetstream.StreamConfig {
	replicas := max(opts.Replicas, 1)
	return []jetstream.StreamConfig{
		{
			Name:        StreamPBX,
			Description: "Raw PBX input published on NATS, consumed by ingest",
			Subjects:    []string{SubjectPBXNativeAll, SubjectPBXFreeSWITCHAll, SubjectPBXARIAll, SubjectPBXAMIAll},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  DedupeWindow,
			MaxAge:      7 * 24 * time.Hour,
			// A PBX event is a few KiB; this bound stops one bad publisher
			// from filling the store with giant messages.
			MaxMsgSize: 1 << 20,
		},
		{
			Name:        StreamEvents,
			Description: "Canonical call and media events: events.<account_id>.<kind>...",
			Subjects:    []string{SubjectEventsAll},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  DedupeWindow,
			MaxAge:      opts.EventsMaxAge,
			MaxMsgSize:  1 << 20,
		},
		{
			Name:        StreamDeliveries,
			Description: "Rendered webhook callbacks: deliveries.<account_id>.<hook_id>",
			Subjects:    []string{SubjectDeliveriesAll},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  DedupeWindow,
			MaxAge:      7 * 24 * time.Hour,
			MaxMsgSize:  2 << 20,
		},
		{
			Name:        StreamParked,
			Description: "Deliveries of failing or slow endpoints: parked.<endpoint>, one consumer each",
			Subjects:    []string{SubjectParkedAll},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Duplicates:  DedupeWindow,
			MaxAge:      7 * 24 * time.Hour,
			MaxMsgSize:  2 << 20,
		},
		{
			Name:        StreamDeadLetter,
			Description: "Rejected PBX input with the reason, for inspection",
			Subjects:    []string{SubjectDeadLetter, SubjectDeadLetterAccounts},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			MaxAge:      30 * 24 * time.Hour,
			MaxMsgs:     1_000_000,
			Discard:     jetstream.DiscardOld,
			MaxMsgSize:  2 << 20,
		},
		{
			Name:        StreamHookChanges,
			Description: "hooks.changed.<account_id> notices; their sequence tells a matcher whether its hook cache is current",
			Subjects:    []string{HooksChangedAll},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			// A matcher reads notices as they arrive; an hour covers a
			// restart, and the full resync covers anything older.
			MaxAge:      time.Hour,
			MaxMsgs:     100_000,
			Discard:     jetstream.DiscardOld,
			MaxMsgSize:  4 << 10,
			AllowDirect: true,
		},
	}
}

// EnsureStreams creates or updates every stream, so any service may call it
// at start-up, in any order and any number of replicas at once.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts StreamOptions) error {
	for _, cfg := range StreamConfigs(opts) {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}
