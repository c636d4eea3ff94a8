// Package signing signs callbacks the Standard Webhooks way
// (https://www.standardwebhooks.com), so receivers can verify them with any
// of that specification's libraries:
//
//	webhook-id:        the delivery id, the same on every retry
//	webhook-timestamp: Unix seconds when this attempt was signed
//	webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>
//
// The key is the base64-decoded part of the hook's secret "whsec_<base64>".
// While a rotated-out secret is still valid, the request carries one
// signature per secret, space-separated, so receivers holding either secret
// accept it. A GET hook has no body: its payload travels in the query string
// and the signed body is the empty string, so the signature proves the
// webhook-id and timestamp only, not the query string.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every hook secret.
const SecretPrefix = "whsec_"

// ErrInvalidSecret says a stored secret is not whsec_ and base64.
var ErrInvalidSecret = errors.New("hook secret is not a whsec_ base64 secret")

// Key is a decoded signing key.
type Key []byte

// ParseSecret decodes "whsec_<base64>" into its key. The prefix is
// required: a secret without it was stored by mistake, and signing with the
// wrong bytes would only produce signatures no receiver accepts.
func ParseSecret(secret string) (Key, error) {
	encoded, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok || encoded == "" {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(key) == 0 {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// Signature returns the webhook-signature value for one attempt: "v1,<sig>"
// for each key, space-separated, in the order given (current key first).
func Signature(keys []Key, id string, timestamp time.Time, body []byte) (string, error) {
	if len(keys) == 0 {
		return "", fmt.Errorf("sign %s: no key", id)
	}
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	parts := make([]string, len(keys))
	for i, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		parts[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return strings.Join(parts, " "), nil
}
