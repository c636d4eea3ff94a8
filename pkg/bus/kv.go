package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ARIChannelTTL is how long a channel's state outlives its last update: far
// longer than any call, short enough that channels never destroyed (a PBX
// that crashed) do not pile up.
const ARIChannelTTL = 48 * time.Hour

// EnsureARIChannelBucket creates or updates the ARIChannelBucket Key-Value
// store; replicas matches the streams' (1 or 3).
func EnsureARIChannelBucket(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ARIChannelBucket,
		Description: "Per-channel state of ARI parsing: direction, caller, Dial outcome, linkedid",
		TTL:         ARIChannelTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure key-value bucket %s: %w", ARIChannelBucket, err)
	}
	return kv, nil
}
