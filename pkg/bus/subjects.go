// Package bus declares every JetStream stream, subject and header pbxhooks
// uses, in one place, and the helpers that create the streams and own the
// acking of consumed messages.
package bus

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// Stream names.
const (
	// StreamPBX captures what PBXs publish on NATS, so that an event a PBX
	// published is stored before ingest reads it and a crashed ingest loses
	// nothing. Ingest consumes it as a work queue.
	StreamPBX = "PBX"
	// StreamEvents holds canonical events, one subject per account, kind and
	// status.
	StreamEvents = "EVENTS"
	// StreamDeliveries is the work queue of rendered callbacks.
	StreamDeliveries = "DELIVERIES"
	// StreamParked holds deliveries moved off DELIVERIES because their
	// endpoint is failing or slow, one subject per endpoint, so each
	// endpoint's backlog is fetched only when that endpoint can take it.
	StreamParked = "PARKED"
	// StreamDeadLetter keeps the input that could not be parsed or validated,
	// with the reason, for inspection.
	StreamDeadLetter = "DEADLETTER"
	// StreamHookChanges keeps the hooks.changed notices for an hour, so a
	// notice has a stream sequence: a matcher compares the newest sequence
	// with the last one it applied and so knows, rather than guesses,
	// whether its hook cache is stale.
	StreamHookChanges = "HOOK_CHANGES"
)

// Subjects. Each token is documented where the subject is built.
const (
	// SubjectPBXNativeAll is pbx.events.<account_id>: native JSON events.
	SubjectPBXNativeAll = "pbx.events.*"
	// SubjectPBXFreeSWITCHAll is pbx.freeswitch.<account_id or "any">:
	// FreeSWITCH mod_event_socket JSON events.
	SubjectPBXFreeSWITCHAll = "pbx.freeswitch.*"
	// SubjectPBXARIAll is pbx.ari.<account_id or "any">: Asterisk ARI events.
	SubjectPBXARIAll = "pbx.ari.*"
	// SubjectPBXAMIAll is pbx.ami.<account_id or "any">: Asterisk Manager
	// Interface events, one raw AMI message each.
	SubjectPBXAMIAll = "pbx.ami.*"
	// SubjectDeadLetter is where rejected input is copied when no account
	// can be attributed to it; see DeadLetterSubject.
	SubjectDeadLetter = "pbx.deadletter"
	// SubjectDeadLetterAccounts is pbx.deadletter.<account_id>: rejected
	// input of a known account, so the API can list one tenant's dead
	// letters with a filtered consumer instead of a scan.
	SubjectDeadLetterAccounts = "pbx.deadletter.*"
	// SubjectEventsAll matches every canonical event.
	SubjectEventsAll = "events.>"
	// SubjectDeliveriesAll matches every delivery.
	SubjectDeliveriesAll = "deliveries.>"
	// SubjectParkedAll matches every endpoint's parked deliveries; see
	// ParkedSubject.
	SubjectParkedAll = "parked.*"
)

// PBXNativeSubject is pbx.events.<account_id>.
func PBXNativeSubject(accountID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return "pbx.events." + accountID, nil
}

// PBXFreeSWITCHSubject is pbx.freeswitch.<account_id or "any">: where a
// FreeSWITCH connector publishes the raw `event json` events.
func PBXFreeSWITCHSubject(accountID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return "pbx.freeswitch." + accountID, nil
}

// PBXARISubject is pbx.ari.<account_id or "any">: where an Asterisk
// connector publishes the raw ARI WebSocket events.
func PBXARISubject(accountID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return "pbx.ari." + accountID, nil
}

// PBXAMISubject is pbx.ami.<account_id or "any">: where an Asterisk AMI
// connector publishes the raw AMI events.
func PBXAMISubject(accountID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return "pbx.ami." + accountID, nil
}

// CallEventSubject is events.<account_id>.call.<call_type>.<status>:
// account first so consumers and permissions can be scoped per tenant, then
// kind, then the Spoke call type and status so a subscriber can filter on
// exactly what a Spoke hook selects.
func CallEventSubject(accountID, callType, status string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	if !event.IsCallType(callType) {
		return "", fmt.Errorf("call event subject: unknown call type %q", callType)
	}
	if status != event.StatusNone && !event.IsCallStatus(status) {
		return "", fmt.Errorf("call event subject: unknown status %q", status)
	}
	return "events." + accountID + ".call." + callType + "." + status, nil
}

// MediaEventSubject is events.<account_id>.media.<media_type>.
func MediaEventSubject(accountID, mediaType string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	if !event.IsMediaType(mediaType) {
		return "", fmt.Errorf("media event subject: unknown media type %q", mediaType)
	}
	return "events." + accountID + ".media." + mediaType, nil
}

// DeliverySubject is deliveries.<account_id>.<hook_id>: per hook, so a
// consumer can be scoped to one endpoint's backlog.
func DeliverySubject(accountID, hookID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	if err := ValidateToken(hookID); err != nil {
		return "", fmt.Errorf("delivery subject hook id: %w", err)
	}
	return "deliveries." + accountID + "." + hookID, nil
}

// maxParkedTokenBytes bounds the endpoint token of a parked subject; a
// longer endpoint (a host name near DNS's 253-byte limit) is not parked.
const maxParkedTokenBytes = 512

// ParkedSubject is parked.<token>, the token being the endpoint key
// ("https://host:443") in unpadded base64url, so that whoever finds the
// subject in the stream knows the endpoint without reading a message.
func ParkedSubject(endpointKey string) (string, error) {
	token := base64.RawURLEncoding.EncodeToString([]byte(endpointKey))
	if endpointKey == "" || len(token) > maxParkedTokenBytes {
		return "", fmt.Errorf("endpoint %.64q cannot be parked: empty or too long", endpointKey)
	}
	return "parked." + token, nil
}

// ParkedEndpoint returns the endpoint key a parked subject names.
func ParkedEndpoint(subject string) (string, error) {
	token, ok := strings.CutPrefix(subject, "parked.")
	if !ok || token == "" || strings.Contains(token, ".") {
		return "", fmt.Errorf("%.80q is not a parked subject", subject)
	}
	key, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(key) == 0 {
		return "", fmt.Errorf("%.80q is not a parked subject", subject)
	}
	return string(key), nil
}

// ParkedConsumer names the durable consumer of one endpoint's parked
// deliveries: a hash of the key, since consumer names are short.
func ParkedConsumer(endpointKey string) string {
	sum := sha256.Sum256([]byte(endpointKey))
	return "parked-" + hex.EncodeToString(sum[:16])
}

// DeadLetterSubject is pbx.deadletter.<account_id> when accountID is a valid
// account id, else pbx.deadletter.
func DeadLetterSubject(accountID string) string {
	if event.ValidateAccountID(accountID) != nil {
		return SubjectDeadLetter
	}
	return SubjectDeadLetter + "." + accountID
}

// HooksChangedSubject is hooks.changed.<account_id>: published by the API
// after every change to a hook so matchers reload that account (stored on
// StreamHookChanges; core subscribers receive it too).
func HooksChangedSubject(accountID string) string { return hooksChangedPrefix + accountID }

// hooksChangedPrefix precedes the account id in a hooks.changed subject;
// HooksChangedAccount reads it back.
const hooksChangedPrefix = "hooks.changed."

// HooksChangedAll matches every account's hook changes.
const HooksChangedAll = "hooks.changed.*"

// HooksDisabledSubject is hooks.disabled.<account_id> (core NATS): published
// when the deliverer disables a hook after repeated failures.
func HooksDisabledSubject(accountID string) string { return "hooks.disabled." + accountID }

// HooksDisabledAll matches every account's auto-disable notices.
const HooksDisabledAll = "hooks.disabled.*"

// ValidateToken checks that s is usable as one subject token: the same
// alphabet as account ids, so ids minted by us always pass.
func ValidateToken(s string) error {
	if err := event.ValidateAccountID(s); err != nil {
		return fmt.Errorf("invalid subject token %q", s)
	}
	return nil
}

// Header names carried on JetStream messages.
const (
	// HeaderMsgID is JetStream's dedupe header.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderTraceparent is the W3C trace context header.
	HeaderTraceparent = "traceparent"
	// HeaderDeadLetterReason says why input was dead-lettered.
	HeaderDeadLetterReason = "Pbxhooks-Reason"
	// HeaderDeadLetterSource names the subject the rejected input came from.
	HeaderDeadLetterSource = "Pbxhooks-Source-Subject"
	// HeaderAccountID is set on dead letters when the account is known.
	HeaderAccountID = "Pbxhooks-Account-Id"
	// HeaderTestHookID marks an event published by the API's
	// POST .../webhooks/{webhook_id}/test: the matcher delivers it to that
	// one hook only (enabled or not) and to no other.
	HeaderTestHookID = "Pbxhooks-Test-Hook-Id"
)

// MediaBucket is the NATS Object Store bucket holding voicemail and call
// recording files. An object's name is its media id (Event.media.media_id),
// which is what a signed download link names.
const MediaBucket = "media"

// ChannelStateBucket is the Key-Value bucket where ingest keeps what an
// Asterisk channel's earlier events (ARI or AMI) said (its direction,
// caller, Dial outcome and call group) for the events that follow; see
// EnsureChannelStateBucket.
const ChannelStateBucket = "channel_state"

// Durable consumer names.
const (
	ConsumerIngest = "ingest"
	// ConsumerIngestOrdered is ingest's consumer of the PBX subjects whose
	// parsing keeps per-channel state (ARI, AMI): one message in flight across
	// all replicas, so events are parsed in the order the PBX emitted them.
	ConsumerIngestOrdered = "ingest-ordered"
	ConsumerMatcher       = "matcher"
	ConsumerDeliverer     = "deliverer"
	// ConsumerEventsIndex is the API's consumer of every EVENTS subject,
	// which copies events into PostgreSQL's events_index in batches; the
	// API's replicas share it.
	ConsumerEventsIndex = "events-index"
)

// Inbox prefixes. A request's reply (a JetStream PubAck, an API answer)
// comes back on an inbox subject; a production NATS lets each user subscribe
// only under its own prefix (see pkg/natsauth), so no client can read
// another's replies. The second token keeps the two kinds of principal
// apart whatever their names.
const inboxRoot = "_INBOX"

// ServiceInboxPrefix is _INBOX.svc.<service>: where a pbxhooks service
// (bus.Connect with the service's name) receives its replies.
func ServiceInboxPrefix(service string) string { return inboxRoot + ".svc." + service }

// PBXInboxPrefix is _INBOX.pbx.<account_id>: the inbox prefix a PBX
// connector of that account must set (nats.go: nats.CustomInboxPrefix) to
// receive the PubAcks of its JetStream publishes under the generated NATS
// permissions.
func PBXInboxPrefix(accountID string) string { return inboxRoot + ".pbx." + accountID }
