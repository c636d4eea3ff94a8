package scenario

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// call accumulates one sequence's steps.
type call struct {
	seq      Sequence
	from, to string
	now      time.Time
}

// hangup is how a channel_destroy ends the call.
type hangup struct {
	cause, code string
	ringing     int64
	// unansweredStatusForIncoming is the status ingest derives for an
	// incoming call ending this way.
	unansweredStatusForIncoming string
}

// Timings, in seconds from the call's start; they are what a real call of
// that kind would show, so payloads look real.
const (
	ringSeconds      = 6
	talkSeconds      = 95
	missedRing       = 18
	noAnswerRing     = 30
	voicemailRing    = 20
	voicemailMessage = 25
)

func (c *call) build() (Sequence, error) {
	var err error
	switch c.seq.Scenario {
	case MissedCall:
		err = c.unanswered(hangup{cause: "ORIGINATOR_CANCEL", code: "sip:487", ringing: missedRing, unansweredStatusForIncoming: event.StatusMissed})
	case Busy:
		err = c.unanswered(hangup{cause: "USER_BUSY", code: "sip:486", unansweredStatusForIncoming: event.StatusBusy})
	case NoAnswer:
		err = c.unanswered(hangup{cause: "NO_ANSWER", code: "sip:480", ringing: noAnswerRing, unansweredStatusForIncoming: event.StatusNoAnswer})
	case AnsweredCall:
		err = c.answered()
	case Voicemail:
		// The extension never answered; the caller left a message and hung
		// up, which the PBX reports as a normal clearing of an unanswered
		// leg: missed. Then the PBX uploads the message.
		err = c.unanswered(hangup{cause: "NORMAL_CLEARING", code: "sip:200", ringing: voicemailRing + voicemailMessage, unansweredStatusForIncoming: event.StatusMissed})
		if err == nil {
			err = c.media(event.MediaVoicemail, "voicemail", ToneWAV(440, time.Second))
		}
	case CallRecording:
		err = c.answered()
		if err == nil {
			err = c.media(event.MediaCallRecording, "recording", ToneWAV(660, 2*time.Second))
		}
	default:
		err = fmt.Errorf("scenario %q has no steps", c.seq.Scenario)
	}
	if err != nil {
		return Sequence{}, err
	}
	return c.seq, nil
}

// unanswered is ringing, then a hang-up that h describes. A caller giving
// up on an outgoing call is no_answer, not missed.
func (c *call) unanswered(h hangup) error {
	start := c.now.Add(-time.Duration(h.ringing) * time.Second)
	if err := c.event(event.LifecycleChannelCreate, event.StatusRinging, start, nil); err != nil {
		return err
	}
	status := h.unansweredStatusForIncoming
	if status == event.StatusMissed && c.seq.Direction == event.DirectionOutbound {
		status = event.StatusNoAnswer
	}
	return c.event(event.LifecycleChannelDestroy, status, c.now, map[string]any{
		"hangup_cause":     h.cause,
		"hangup_code":      h.code,
		"answered":         false,
		"duration_seconds": h.ringing,
		"billing_seconds":  0,
		"ringing_seconds":  h.ringing,
	})
}

// answered is ringing, answer, talk and a normal hang-up.
func (c *call) answered() error {
	start := c.now.Add(-(ringSeconds + talkSeconds) * time.Second)
	if err := c.event(event.LifecycleChannelCreate, event.StatusRinging, start, nil); err != nil {
		return err
	}
	if err := c.event(event.LifecycleChannelAnswer, event.StatusAnswered, start.Add(ringSeconds*time.Second), nil); err != nil {
		return err
	}
	return c.event(event.LifecycleChannelDestroy, event.StatusEnded, c.now, map[string]any{
		"hangup_cause":     "NORMAL_CLEARING",
		"hangup_code":      "sip:200",
		"answered":         true,
		"duration_seconds": ringSeconds + talkSeconds,
		"billing_seconds":  talkSeconds,
		"ringing_seconds":  ringSeconds,
	})
}

// event appends a native call event; status is what ingest derives from
// it (documented in the package comment and checked by the tests).
func (c *call) event(lifecycle, status string, at time.Time, extra map[string]any) error {
	ev := map[string]any{
		"event":     lifecycle,
		"id":        c.stepID(),
		"call_id":   c.seq.CallID,
		"thread_id": c.seq.ThreadID,
		"direction": c.seq.Direction,
		"from":      c.from,
		"from_name": "pbxhooks test caller",
		"to":        c.to,
		"to_name":   "pbxhooks test callee",
		"request":   c.to + "@" + TestCallDomain,
		"timestamp": at.Format(time.RFC3339Nano),
		"custom_channel_vars": map[string]string{
			event.TestVar: "true",
		},
	}
	for k, v := range extra {
		ev[k] = v
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("scenario %s: encode %s: %w", c.seq.Scenario, lifecycle, err)
	}
	c.seq.Steps = append(c.seq.Steps, Step{Event: raw, Callback: Callback{
		Kind: event.KindCall, Lifecycle: lifecycle, CallType: event.CallTypeForDirection(c.seq.Direction), Status: status,
	}})
	return nil
}

// media appends an upload of file as mediaType.
func (c *call) media(mediaType, namePrefix string, file []byte) error {
	fields := map[string]string{
		"type":         mediaType,
		"id":           c.stepID(),
		"call_id":      c.seq.CallID,
		"thread_id":    c.seq.ThreadID,
		"from":         c.from,
		"from_name":    "pbxhooks test caller",
		"to":           c.to,
		"to_name":      "pbxhooks test callee",
		"filename":     namePrefix + "-" + c.seq.ThreadID + ".wav",
		"content_type": WAVContentType,
	}
	c.seq.Steps = append(c.seq.Steps, Step{
		Upload:   &Upload{Fields: fields, File: file},
		Callback: Callback{Kind: event.KindMedia, MediaType: mediaType},
	})
	return nil
}

// stepID is the next step's event id: the thread id and the step's number,
// so a re-sent sequence is deduplicated by ingest and two sequences never
// share an id.
func (c *call) stepID() string {
	return c.seq.ThreadID + "-" + strconv.Itoa(len(c.seq.Steps)+1)
}
