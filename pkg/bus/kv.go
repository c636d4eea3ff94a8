package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ChannelStateTTL is how long a channel's state outlives its last update: far
// longer than any call, short enough that channels never destroyed (a PBX
// that crashed) do not pile up.
const ChannelStateTTL = 48 * time.Hour

// EnsureChannelStateBucket creates or updates the ChannelStateBucket
// Key-Value store; replicas matches the streams' (1 or 3).
func EnsureChannelStateBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ChannelStateBucket,
		Description: "Per-channel state of Asterisk parsing (ARI, AMI): direction, caller, Dial outcome, linkedid",
		TTL:         ChannelStateTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure key-value bucket %s: %w", ChannelStateBucket, err)
	}
	return kv, nil
}
