// Package medialink signs and verifies the temporary download links of media
// files (voicemails, call recordings). The matcher signs a link into each
// media webhook; the API verifies it on GET /v1/media/{media_id}. The link is
// its own credential, so it carries no API token.
//
// A link is
//
//	<PUBLIC_BASE_URL>/v1/media/<media_id>?account=<account_id>&expires=<unix>&signature=<kid>.<mac>
//
// where mac is the unpadded base64url HMAC-SHA256, under key kid, of the
// media id, the account id and the expiry. Binding the account means a link
// can never be re-pointed at another tenant's media, and lets the API check
// the object's owner without a database. The key id travels in the signature
// so keys can rotate: the first configured key signs, every configured key
// verifies, and a retired key is kept configured until the links it signed
// have expired.
package medialink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// Query parameter names of a link.
const (
	ParamAccount   = "account"
	ParamExpires   = "expires"
	ParamSignature = "signature"
)

// PathPrefix is the API route of media downloads; the media id follows it.
const PathPrefix = "/v1/media/"

// MinSecretBytes keeps signing keys out of brute-force reach.
const MinSecretBytes = 32

// Verification failures. Callers answer all of them the same way (403): a
// client learns nothing about why a link was refused.
var (
	// ErrMalformed: a parameter is missing or not of the expected shape.
	ErrMalformed = errors.New("media link is malformed")
	// ErrBadSignature: the signature does not match the link, or names a key
	// that is not configured (altered, forged or foreign link).
	ErrBadSignature = errors.New("media link signature does not match")
	// ErrExpired: the signature matches but the link's time is over.
	ErrExpired = errors.New("media link has expired")
)

var (
	keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	// mediaIDPattern admits what ingest mints (UUIDs, digests) and keeps ids
	// safe as a URL path segment and an object name.
	mediaIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)
)

// ValidateMediaID reports whether id may name a media object in a link.
func ValidateMediaID(id string) error {
	if !mediaIDPattern.MatchString(id) {
		return fmt.Errorf("%w: media id must match %s", ErrMalformed, mediaIDPattern)
	}
	return nil
}

// Key is one signing key. Its secret never appears in formatted output.
type Key struct {
	ID     string
	secret []byte
}

// NewKey returns a key after checking its id and secret length.
func NewKey(id string, secret []byte) (Key, error) {
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("key id %q must match %s", id, keyIDPattern)
	}
	if len(secret) < MinSecretBytes {
		return Key{}, fmt.Errorf("key %q: secret must be at least %d bytes", id, MinSecretBytes)
	}
	return Key{ID: id, secret: append([]byte(nil), secret...)}, nil
}

func (k Key) String() string   { return "medialink.Key(" + k.ID + ")" }
func (k Key) GoString() string { return k.String() }

// ParseKeys reads "kid:secret,kid:secret": the first key signs, all verify.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, secret, ok := strings.Cut(part, ":")
		if !ok {
			return nil, errors.New("each key must be written kid:secret")
		}
		key, err := NewKey(strings.TrimSpace(id), []byte(strings.TrimSpace(secret)))
		if err != nil {
			return nil, err
		}
		if seen[key.ID] {
			return nil, fmt.Errorf("key id %q is listed twice", key.ID)
		}
		seen[key.ID] = true
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given")
	}
	return keys, nil
}

// NewKeySpec returns a fresh MEDIA_LINK_KEYS value: key id kid with a secret
// of 32 random bytes, hex-encoded. `make run` and the test stacks use it;
// an operator may as well (the README shows the openssl equivalent).
func NewKeySpec(kid string) (string, error) {
	secret := make([]byte, MinSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("generate media link key: %w", err)
	}
	spec := kid + ":" + hex.EncodeToString(secret)
	if _, err := ParseKeys(spec); err != nil {
		return "", fmt.Errorf("generate media link key: %w", err)
	}
	return spec, nil
}

// mac is the HMAC of one link's fields. Each field is length-prefixed so no
// two different (media, account, expires) triples share a message.
func mac(secret []byte, mediaID, accountID string, expires int64) []byte {
	h := hmac.New(sha256.New, secret)
	fmt.Fprintf(h, "pbxhooks-media-link-v1\n%d:%s\n%d:%s\n%d", len(mediaID), mediaID, len(accountID), accountID, expires)
	return h.Sum(nil)
}

// Sign returns the signature of a link to mediaID of accountID valid until
// expires, made with the first key.
func Sign(keys []Key, mediaID, accountID string, expires time.Time) (string, error) {
	if len(keys) == 0 {
		return "", errors.New("sign media link: no key configured")
	}
	if err := ValidateMediaID(mediaID); err != nil {
		return "", fmt.Errorf("sign media link: %w", err)
	}
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", fmt.Errorf("sign media link: %w", err)
	}
	k := keys[0]
	return k.ID + "." + base64.RawURLEncoding.EncodeToString(mac(k.secret, mediaID, accountID, expires.Unix())), nil
}

// Verify checks a link's signature and expiry at now. The MAC comparison is
// constant-time; a signature naming an unknown key fails like a wrong one.
func Verify(keys []Key, mediaID, accountID string, expires int64, signature string, now time.Time) error {
	if ValidateMediaID(mediaID) != nil || event.ValidateAccountID(accountID) != nil {
		return ErrMalformed
	}
	kid, encoded, ok := strings.Cut(signature, ".")
	if !ok || !keyIDPattern.MatchString(kid) {
		return ErrMalformed
	}
	// Only the exact text Sign wrote verifies: decoders accept other
	// spellings of the same bytes (set spare bits, line breaks).
	got, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil || len(got) != sha256.Size || base64.RawURLEncoding.EncodeToString(got) != encoded {
		return ErrMalformed
	}
	for _, k := range keys {
		if k.ID != kid {
			continue
		}
		if !hmac.Equal(got, mac(k.secret, mediaID, accountID, expires)) {
			return ErrBadSignature
		}
		if now.Unix() > expires {
			return ErrExpired
		}
		return nil
	}
	return ErrBadSignature
}

// VerifyQuery verifies a link from its path's media id and its query, and
// returns the account it was issued for. Each parameter must appear once
// and be written as Link writes it (expires in plain decimal, no sign or
// leading zeros): a link has exactly one valid spelling.
func VerifyQuery(keys []Key, mediaID string, query url.Values, now time.Time) (accountID string, err error) {
	for _, p := range []string{ParamAccount, ParamExpires, ParamSignature} {
		if len(query[p]) != 1 {
			return "", ErrMalformed
		}
	}
	accountID = query.Get(ParamAccount)
	rawExpires := query.Get(ParamExpires)
	expires, err := strconv.ParseInt(rawExpires, 10, 64)
	if err != nil || strconv.FormatInt(expires, 10) != rawExpires {
		return "", ErrMalformed
	}
	if err := Verify(keys, mediaID, accountID, expires, query.Get(ParamSignature), now); err != nil {
		return "", err
	}
	return accountID, nil
}

// Linker builds absolute download links.
type Linker struct {
	// BaseURL is PUBLIC_BASE_URL: scheme and host (and an optional path
	// prefix) under which the API is reachable by receivers.
	BaseURL string
	Keys    []Key
	// TTL is how long a link stays valid.
	TTL time.Duration
	// Now is time.Now when nil.
	Now func() time.Time
}

// Link returns the signed download link of mediaID for accountID.
func (l *Linker) Link(mediaID, accountID string) (string, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	expires := now().Add(l.TTL)
	sig, err := Sign(l.Keys, mediaID, accountID, expires)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	q.Set(ParamAccount, accountID)
	q.Set(ParamExpires, strconv.FormatInt(expires.Unix(), 10))
	q.Set(ParamSignature, sig)
	return strings.TrimRight(l.BaseURL, "/") + PathPrefix + url.PathEscape(mediaID) + "?" + q.Encode(), nil
}
