package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultMediaTTL is how long a media file is kept when the deployment does
// not say otherwise: long enough for every webhook retry and for a customer
// to fetch the file, short enough that recordings do not pile up.
const DefaultMediaTTL = 7 * 24 * time.Hour

// EnsureMediaBucket creates or updates the MediaBucket Object Store, so any
// service may call it at start-up. ttl bounds how long a file is kept after
// it was stored; replicas matches the streams' (1 or 3).
func EnsureMediaBucket(ctx context.Context, js jetstream.JetStream, ttl time.Duration, replicas int) (jetstream.ObjectStore, error) {
	obs, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      MediaBucket,
		Description: "Voicemail and call recording files; object name = media id",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("ensure object store %s: %w", MediaBucket, err)
	}
	return obs, nil
}
