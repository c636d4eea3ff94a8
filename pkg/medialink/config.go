package medialink

import (
	"fmt"
	"time"

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
