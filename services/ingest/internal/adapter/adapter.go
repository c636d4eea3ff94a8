// Package adapter is the seam between a PBX input format and the rest of
// ingest. Each format (native JSON now; FreeSWITCH and Asterisk ARI later)
// is one Adapter: a NATS subject on the PBX stream, an HTTP route and a
// parser. The HTTP intake and the NATS consumer are written once against
// this type, so supporting another PBX means adding an Adapter, not another
// intake path.
package adapter

import (
	"strings"
	"time"

	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
)

// ParseFunc turns one raw input event into a canonical Event for
// accountID. receivedAt is when pbxhooks first stored or received the input;
// it is the occurred_at fallback and must be stable across redeliveries so
// the produced Event is too. Input that no retry can fix is reported as a
// *ValidationError; a ParseFunc never panics on any input.
type ParseFunc func(raw []byte, accountID string, receivedAt time.Time) (*pbxhooksv1.Event, error)

// Adapter describes one PBX input format.
type Adapter struct {
	// Name is the Event's source ("native", "freeswitch", "ari").
	Name string
	// Subject is the filter on the PBX stream whose messages this adapter
	// parses; its last token is the account id.
	Subject string
	// Path is the HTTP route pattern accepting this format; it contains the
	// {account_id} wildcard. Empty: the format comes over NATS only.
	Path  string
	Parse ParseFunc
	// Ordered says Parse keeps state across events (the ARI adapter's
	// per-channel state), so the NATS consumer must hand it one message at
	// a time, in stream order, across all ingest replicas.
	Ordered bool
}

// OwnsSubject reports whether a message published on subject belongs to
// this adapter: everything but the last token must equal the filter's.
func (a Adapter) OwnsSubject(subject string) bool {
	prefix, ok := strings.CutSuffix(a.Subject, "*")
	if !ok {
		return false
	}
	rest, ok := strings.CutPrefix(subject, prefix)
	return ok && rest != "" && !strings.Contains(rest, ".")
}

// AccountFromSubject returns the last token of subject, where every PBX
// subject carries the account id. The caller validates it.
func AccountFromSubject(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}
