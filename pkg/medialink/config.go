package medialink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

// Configuration defaults.
const (
	// DefaultTTL is how long a link stays valid, as Spoke's links do.
	DefaultTTL = 24 * time.Hour
	// DefaultPublicBaseURL is where `make run` serves the API.
	DefaultPublicBaseURL = "http://127.0.0.1:8080"
)

// Config is the media link configuration shared by the matcher (signs) and
// the API (verifies). Both must see the same MEDIA_LINK_KEYS.
type Config struct {
	Keys          []Key
	TTL           time.Duration
	PublicBaseURL string
}

// ReadConfig reads MEDIA_LINK_KEYS ("kid:secret,kid:secret", the first
// signs, all verify), MEDIA_LINK_TTL and PUBLIC_BASE_URL. Problems are
// recorded on e, naming the variable.
//
// MEDIA_LINK_KEYS is required: there is no default key, because a key
// anyone can read lets anyone forge a link to any account's recordings.
// `make run` generates one under .data/ and hands it to both services.
func ReadConfig(e *config.Env) Config {
	c := Config{
		TTL:           e.Duration("MEDIA_LINK_TTL", DefaultTTL, time.Minute, 7*24*time.Hour),
		PublicBaseURL: e.URL("PUBLIC_BASE_URL", DefaultPublicBaseURL, "http", "https"),
	}
	spec := e.Required("MEDIA_LINK_KEYS", fmt.Sprintf(
		"kid:secret with a random secret of at least %d bytes, the same on matcher and api; e.g. k1:$(openssl rand -hex 32)", MinSecretBytes))
	if spec == "" {
		return c
	}
	keys, err := ParseKeys(spec)
	if err != nil {
		e.Fail("MEDIA_LINK_KEYS", "%s (write kid:secret,kid:secret with secrets of at least %d bytes)", err.Error(), MinSecretBytes)
	}
	c.Keys = keys
	return c
}

// Linker returns the link builder of this configuration.
func (c Config) Linker(now func() time.Time) *Linker {
	return &Linker{BaseURL: c.PublicBaseURL, Keys: c.Keys, TTL: c.TTL, Now: now}
}

// CheckMediaTTL is the one rule binding MEDIA_LINK_TTL to INGEST_MEDIA_TTL:
// a link must not outlive the file it names, or a customer is handed a link
// that answers 404 while it claims to be valid. mediaTTL is the media
// bucket's TTL (zero: files never expire).
func (c Config) CheckMediaTTL(mediaTTL time.Duration) error {
	if mediaTTL > 0 && c.TTL > mediaTTL {
		return fmt.Errorf("MEDIA_LINK_TTL (%s) outlives the media it links to: the media bucket keeps files for "+
			"INGEST_MEDIA_TTL (%s); set MEDIA_LINK_TTL to at most INGEST_MEDIA_TTL", c.TTL, mediaTTL)
	}
	return nil
}

// CheckMediaBucket applies CheckMediaTTL to the media bucket as it is
// configured, for the services that read MEDIA_LINK_TTL (the matcher signs
// links, the API verifies them) at start. A bucket that does not exist yet
// passes: ingest creates it with INGEST_MEDIA_TTL, and the next start of
// either service checks it.
func (c Config) CheckMediaBucket(ctx context.Context, js jetstream.JetStream) error {
	ttl, err := bus.MediaBucketTTL(ctx, js)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.CheckMediaTTL(ttl)
}
