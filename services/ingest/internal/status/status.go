// Package status derives the Spoke call status of a call event from its
// Kazoo lifecycle, whether the call was answered and the hangup cause.
//
// This is the walking-skeleton table: it knows only the handful of causes
// below, by FreeSWITCH/Kazoo name. Issue 4 completes the Q.850 table here
// (numeric causes from Asterisk, invalid/not_available/blocked, and the
// ring-group legs that lost the race and get no status), so every adapter
// keeps deriving statuses in this one place.
package status

import (
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// Call is what the derivation looks at.
type Call struct {
	// Lifecycle is the Kazoo event name (event.Lifecycle*).
	Lifecycle string
	// CallType is event.CallTypeIncoming or event.CallTypeOutgoing.
	CallType string
	// Answered is true when the leg was ever answered; only meaningful on
	// channel_destroy.
	Answered bool
	// HangupCause is the Q.850 cause name, in any letter case.
	HangupCause string
}

// unansweredByCause maps the hangup cause of a never-answered leg to its
// status. Causes not listed fall back to no_answer: the callee did not pick
// up, which is the most common reason a call ends unanswered.
var unansweredByCause = map[string]string{
	// The callee's line was busy.
	"USER_BUSY": event.StatusBusy,
	// The callee's phone rang until the PBX or the network gave up.
	"NO_ANSWER": event.StatusNoAnswer,
	// The callee's device never confirmed it was alerting.
	"NO_USER_RESPONSE": event.StatusNoAnswer,
	// The callee declined the call.
	"CALL_REJECTED": event.StatusRejected,
}

// Derive returns the Spoke status of c. An unknown lifecycle yields
// event.StatusNone rather than a guess; callers validate the lifecycle first.
func Derive(c Call) string {
	switch c.Lifecycle {
	case event.LifecycleChannelCreate:
		return event.StatusRinging
	case event.LifecycleChannelAnswer, event.LifecycleChannelBridge:
		return event.StatusAnswered
	case event.LifecycleChannelDestroy:
		return hangup(c)
	default:
		return event.StatusNone
	}
}

func hangup(c Call) string {
	if c.Answered {
		return event.StatusEnded
	}
	cause := strings.ToUpper(strings.TrimSpace(c.HangupCause))
	// The caller hung up before anyone answered: for the callee side that
	// is a missed call; for an outgoing call the callee simply did not
	// answer in time.
	if cause == "ORIGINATOR_CANCEL" {
		if c.CallType == event.CallTypeIncoming {
			return event.StatusMissed
		}
		return event.StatusNoAnswer
	}
	if s, ok := unansweredByCause[cause]; ok {
		return s
	}
	return event.StatusNoAnswer
}
