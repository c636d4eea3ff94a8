package bus

import (
	"context"
	"errors"
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

// MediaBucketTTL is how long the MediaBucket keeps a file, as the bucket
// was configured (INGEST_MEDIA_TTL). It wraps jetstream.ErrBucketNotFound
// when no bucket exists yet.
func MediaBucketTTL(ctx context.Context, js jetstream.JetStream) (time.Duration, error) {
	obs, err := js.ObjectStore(ctx, MediaBucket)
	if err != nil {
		return 0, fmt.Errorf("look up object store %s: %w", MediaBucket, err)
	}
	status, err := obs.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("read object store %s: %w", MediaBucket, err)
	}
	return status.TTL(), nil
}

// Object metadata keys of a media object. Only ingest writes the media
// bucket (the NATS permissions give no one else write access), and it
// records the account that uploaded the file: that account owns the object.
const (
	// MediaMetaAccountID names the owning account.
	MediaMetaAccountID = "account_id"
	// MediaMetaContentType is the content type the uploader declared.
	MediaMetaContentType = "content_type"
)

// ErrMediaNotFound is the one answer to a media id that an account may not
// use: no such object, a deleted one, or one another account owns (or no
// account does). Callers must not tell these apart in what they show a
// tenant, so that no account learns whether, or how large, another
// account's file is.
var ErrMediaNotFound = errors.New("media not found")

// OwnedMedia returns the info of media object mediaID when accountID owns
// it, ErrMediaNotFound when it does not (see there), and any other error
// when the store could not be asked (retryable).
func OwnedMedia(ctx context.Context, obs jetstream.ObjectStore, mediaID, accountID string) (*jetstream.ObjectInfo, error) {
	info, err := obs.GetInfo(ctx, mediaID)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, ErrMediaNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up media %.80q: %w", mediaID, err)
	}
	if info.Deleted || accountID == "" || info.Metadata[MediaMetaAccountID] != accountID {
		return nil, ErrMediaNotFound
	}
	return info, nil
}
