package medialink

import (
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

// Configuration defaults.
const (
	// DefaultTTL is how long a link stays valid, as Spoke's links do.
	DefaultTTL = 24 * time.Hour
	// DefaultPublicBaseURL is where `make run` serves the API.
	DefaultPublicBaseURL = "http://127.0.0.1:8080"
	// developmentKeys is used only when MEDIA_LINK_KEYS is unset. It is
	// public (it is in this file), so links signed with it can be forged:
	// services log a loud warning when they fall back to it.
	developmentKeys = "dev:pbxhooks-development-media-link-key-not-secret"
)

// Config is the media link configuration shared by the matcher (signs) and
// the API (verifies). Both must see the same MEDIA_LINK_KEYS.
type Config struct {
	Keys          []Key
	TTL           time.Duration
	PublicBaseURL string
	// DevelopmentKey is true when MEDIA_LINK_KEYS was unset and the
	// public development key is in use; the caller must warn about it.
	DevelopmentKey bool
}

// ReadConfig reads MEDIA_LINK_KEYS ("kid:secret,kid:secret", the first
// signs, all verify), MEDIA_LINK_TTL and PUBLIC_BASE_URL. Problems are
// recorded on e, naming the variable.
func ReadConfig(e *config.Env) Config {
	c := Config{
		TTL:           e.Duration("MEDIA_LINK_TTL", DefaultTTL, time.Minute, 7*24*time.Hour),
		PublicBaseURL: e.URL("PUBLIC_BASE_URL", DefaultPublicBaseURL, "http", "https"),
	}
	spec := e.String("MEDIA_LINK_KEYS", "")
	if spec == "" {
		spec = developmentKeys
		c.DevelopmentKey = true
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
