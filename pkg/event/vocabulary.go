// Package event holds the canonical vocabulary of pbxhooks events: the kinds,
// Kazoo lifecycles, Spoke call types, statuses and media types that every
// service agrees on, and the validation of the identifiers that become NATS
// subject tokens. The wire form of an event is the protobuf message in
// proto/pbxhooks/v1; this package names the values its string fields take.
package event

import (
	"fmt"
	"regexp"
	"slices"
)

// Kind separates call events from media events; it is a subject token.
const (
	KindCall  = "call"
	KindMedia = "media"
)

// Kazoo lifecycle events of a call leg, as Kazoo names its hook types.
const (
	LifecycleChannelCreate  = "channel_create"
	LifecycleChannelAnswer  = "channel_answer"
	LifecycleChannelBridge  = "channel_bridge"
	LifecycleChannelDestroy = "channel_destroy"
)

// Lifecycles lists the Kazoo lifecycle events in call order.
var Lifecycles = []string{LifecycleChannelCreate, LifecycleChannelAnswer, LifecycleChannelBridge, LifecycleChannelDestroy}

// Spoke call types, derived from the call direction.
const (
	CallTypeIncoming = "incoming_call"
	CallTypeOutgoing = "outgoing_call"
)

// CallTypes lists every Spoke call type.
var CallTypes = []string{CallTypeIncoming, CallTypeOutgoing}

// Call directions as PBXs and Kazoo report them.
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
)

// Spoke call statuses.
const (
	StatusRinging      = "ringing"
	StatusAnswered     = "answered"
	StatusEnded        = "ended"
	StatusMissed       = "missed"
	StatusBusy         = "busy"
	StatusInvalid      = "invalid"
	StatusBlocked      = "blocked"
	StatusNotAvailable = "not_available"
	StatusNoAnswer     = "no_answer"
	StatusRejected     = "rejected"
	// StatusNone marks a call event that has no Spoke status of its own, such
	// as the hangup of a ring-group leg that lost the race to answer. It is a
	// subject token but never a value a hook can subscribe to.
	StatusNone = "none"
)

// CallStatuses lists every status a Spoke call hook can subscribe to.
var CallStatuses = []string{
	StatusRinging, StatusAnswered, StatusEnded, StatusMissed, StatusBusy,
	StatusInvalid, StatusBlocked, StatusNotAvailable, StatusNoAnswer, StatusRejected,
}

// Spoke media types.
const (
	MediaVoicemail     = "voicemail"
	MediaCallRecording = "call_recording"
)

// MediaTypes lists every Spoke media type.
var MediaTypes = []string{MediaVoicemail, MediaCallRecording}

// accountIDPattern bounds account ids to characters that are safe as a NATS
// subject token and in a URL path segment.
var accountIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ErrInvalidAccountID is wrapped by ValidateAccountID's errors.
var ErrInvalidAccountID = fmt.Errorf("invalid account id: must match %s", accountIDPattern)

// ValidateAccountID reports whether id may be used as an account id. Every
// account id must pass it before it becomes part of a subject.
func ValidateAccountID(id string) error {
	if !accountIDPattern.MatchString(id) {
		return fmt.Errorf("%q: %w", truncate(id, 80), ErrInvalidAccountID)
	}
	return nil
}

// IsCallType, IsCallStatus and IsMediaType report membership of the
// subscribable vocabularies.
func IsCallType(v string) bool   { return slices.Contains(CallTypes, v) }
func IsCallStatus(v string) bool { return slices.Contains(CallStatuses, v) }
func IsMediaType(v string) bool  { return slices.Contains(MediaTypes, v) }
func IsLifecycle(v string) bool  { return slices.Contains(Lifecycles, v) }

// CallTypeForDirection maps a PBX call direction to the Spoke call type.
// Anything but outbound is treated as incoming, as Spoke does for calls that
// reach the PBX from outside.
func CallTypeForDirection(direction string) string {
	if direction == DirectionOutbound {
		return CallTypeOutgoing
	}
	return CallTypeIncoming
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ReconstructedVar is the channel variable a PBX connector sets on an
// event it made up after losing the PBX's stream (a channel_destroy for a
// call that ended while it was disconnected, a channel_create for one that
// began): ingest copies it into custom_channel_vars with the value "true",
// so a customer can tell a reconstructed event from one the PBX sent.
const ReconstructedVar = "pbxhooks_reconstructed"

// TestVar is the channel variable that marks a test call (pkg/scenario's
// sequences, sent by `pbxhooks trigger` and POST .../simulate): the native
// events carry it in custom_channel_vars with the value "true", which
// Kazoo-format payloads pass on, so a receiver can tell a test from a real
// call. Spoke payloads have no place for it; there the call id's domain
// (scenario.TestCallDomain) marks the test.
const TestVar = "pbxhooks_test"
