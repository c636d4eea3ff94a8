// Package scenario builds realistic call sequences as the native JSON events
// (and media uploads) a PBX sends to ingest: a missed call, an answered call,
// a busy line, an unanswered outgoing call, a voicemail, a recorded call.
// `pbxhooks trigger` and the API's POST /v1/accounts/{account_id}/simulate
// both send them through ingest (Ingest.Send), so a simulated call is parsed,
// validated and fanned out exactly like a real one.
//
// Every sequence is marked as a test, in the two places the native format
// lets a PBX say something about a call:
//   - each call event carries custom_channel_vars {event.TestVar: "true"},
//     which Kazoo-format payloads pass on;
//   - the call id is "test-<24 hex>@" + TestCallDomain and the thread id
//     "test-<24 hex>", which every payload carries (Spoke's id and
//     thread_id, Kazoo's call_id), media events included (an upload has no
//     custom_channel_vars). IsTestCall recognises them.
//
// What the callbacks carry, per scenario (Spoke call hooks: type and
// subtype; Kazoo hooks: hook_event; media hooks: type). For an inbound call
// the type is incoming_call; with direction outbound it is outgoing_call and
// a call that was not answered because the caller hung up is no_answer, not
// missed (only an incoming call can be missed):
//
//	missed-call     channel_create ringing; channel_destroy missed (outbound: no_answer)
//	                (ORIGINATOR_CANCEL after 18 s of ringing)
//	answered-call   channel_create ringing; channel_answer answered; channel_destroy ended
//	busy            channel_create ringing; channel_destroy busy (USER_BUSY, sip:486)
//	no-answer       channel_create ringing; channel_destroy no_answer (NO_ANSWER, sip:480)
//	voicemail       channel_create ringing; channel_destroy missed (outbound: no_answer);
//	                then a voicemail media event with a one-second WAV file
//	call-recording  channel_create ringing; channel_answer answered; channel_destroy ended;
//	                then a call_recording media event with a two-second WAV file
//
// Sequence.Callbacks lists exactly this for a built sequence; the tests in
// scripts/e2e push every scenario through the running services and compare.
package scenario

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// The scenario names.
const (
	MissedCall    = "missed-call"
	AnsweredCall  = "answered-call"
	Busy          = "busy"
	NoAnswer      = "no-answer"
	Voicemail     = "voicemail"
	CallRecording = "call-recording"
)

// Names lists every scenario, in the order the documentation gives them.
var Names = []string{MissedCall, AnsweredCall, Busy, NoAnswer, Voicemail, CallRecording}

// TestCallDomain is the domain of every test call's id: no PBX names a call
// in it, so a receiver can tell a test call from a real one.
const TestCallDomain = "pbxhooks.test"

// testThreadPrefix starts every test call's thread id.
const testThreadPrefix = "test-"

// Defaults for the parties when Options leaves them empty (numbers from the
// range reserved for fiction).
const (
	DefaultFrom = "+14155550123"
	DefaultTo   = "+14155550100"
)

// MaxPartyBytes bounds an overridden from or to. Ingest accepts longer
// values; a number or SIP URI is never this long, and refusing here means a
// sequence is never refused half-way through by ingest.
const MaxPartyBytes = 128

// Options shape a sequence; the zero value is an inbound call from
// DefaultFrom to DefaultTo, happening now.
type Options struct {
	From, To string
	// Direction is event.DirectionInbound (default) or
	// event.DirectionOutbound.
	Direction string
	// Now is when the call ends; its earlier events are dated before.
	// Zero: time.Now().
	Now time.Time
}

// Step is one thing a PBX sends: a call event or a media upload.
type Step struct {
	// Event is a native JSON event (set for call steps), as sent to
	// POST /v1/accounts/{account_id}/events or published on
	// pbx.events.<account_id>.
	Event json.RawMessage
	// Upload is a media file with its event's fields (set for media
	// steps), as sent to POST /v1/accounts/{account_id}/media.
	Upload *Upload
	// Callback is what hooks receive for this step.
	Callback Callback
}

// Upload is a media step.
type Upload struct {
	// Fields are the form fields of the upload besides the file: type, id,
	// call_id, thread_id, from, from_name, to, to_name, filename and
	// content_type.
	Fields map[string]string
	// File is the audio itself.
	File []byte
}

// Callback is what a step's callbacks carry.
type Callback struct {
	// Kind is event.KindCall or event.KindMedia.
	Kind string
	// Lifecycle is the Kazoo hook_event of a call step.
	Lifecycle string
	// CallType and Status are a call step's Spoke type and subtype.
	CallType, Status string
	// MediaType is a media step's type (event.MediaVoicemail,
	// event.MediaCallRecording).
	MediaType string
}

// String is the callback as one word pair: "channel_destroy/missed",
// "media/voicemail".
func (c Callback) String() string {
	if c.Kind == event.KindMedia {
		return event.KindMedia + "/" + c.MediaType
	}
	return c.Lifecycle + "/" + c.Status
}

// Sequence is one simulated call.
type Sequence struct {
	Scenario string
	// CallID is the call leg's id ("test-<hex>@pbxhooks.test"), ThreadID
	// the call's ("test-<hex>"), as every callback carries them.
	CallID, ThreadID string
	Direction        string
	Steps            []Step
}

// Callbacks lists what the sequence's steps make hooks receive, in order.
func (s Sequence) Callbacks() []Callback {
	out := make([]Callback, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = st.Callback
	}
	return out
}

// InvalidError is an option Build refuses, naming it the way a request
// body would ("scenario", "from", "to", "direction").
type InvalidError struct {
	Field, Message string
}

func (e *InvalidError) Error() string { return e.Field + " " + e.Message }

// IsTestCall reports whether a call or thread id is one a scenario made.
func IsTestCall(id string) bool {
	return strings.HasSuffix(id, "@"+TestCallDomain) || strings.HasPrefix(id, testThreadPrefix)
}

// Build returns the named scenario's sequence with a fresh test call id. An
// unknown name or a bad option is an *InvalidError.
func Build(name string, opts Options) (Sequence, error) {
	if !slices.Contains(Names, name) {
		return Sequence{}, &InvalidError{Field: "scenario", Message: fmt.Sprintf("must be one of %s", strings.Join(Names, ", "))}
	}
	direction := opts.Direction
	if direction == "" {
		direction = event.DirectionInbound
	}
	if direction != event.DirectionInbound && direction != event.DirectionOutbound {
		return Sequence{}, &InvalidError{Field: "direction", Message: "must be inbound or outbound"}
	}
	from, err := party("from", opts.From, DefaultFrom)
	if err != nil {
		return Sequence{}, err
	}
	to, err := party("to", opts.To, DefaultTo)
	if err != nil {
		return Sequence{}, err
	}
	var random [12]byte
	if _, err := rand.Read(random[:]); err != nil {
		return Sequence{}, fmt.Errorf("scenario call id: %w", err)
	}
	thread := testThreadPrefix + hex.EncodeToString(random[:])
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	c := call{
		seq:  Sequence{Scenario: name, CallID: thread + "@" + TestCallDomain, ThreadID: thread, Direction: direction},
		from: from, to: to, now: now.UTC(),
	}
	return c.build()
}

// party is an overridden number or the default; it must be printable text
// of at most MaxPartyBytes.
func party(field, value, fallback string) (string, error) {
	if value == "" {
		return fallback, nil
	}
	if len(value) > MaxPartyBytes {
		return "", &InvalidError{Field: field, Message: fmt.Sprintf("must be at most %d bytes", MaxPartyBytes)}
	}
	if !utf8.ValidString(value) || strings.ContainsFunc(value, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "", &InvalidError{Field: field, Message: "must be printable text"}
	}
	return value, nil
}
