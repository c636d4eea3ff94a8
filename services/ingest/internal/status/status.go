// Package status derives the Spoke call status of a call event from its
// Kazoo lifecycle, whether the leg was ever answered and its hangup cause.
//
// Every adapter (native, FreeSWITCH, Asterisk ARI) derives statuses here, so
// one table decides what a hangup means whatever PBX reported it. The table
// is documented for users in docs/STATUS.md; a test keeps the two in step.
package status

import (
	"strconv"
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
	// HangupCause is the cause as the PBX named it: a FreeSWITCH/Kazoo name
	// such as USER_BUSY in any letter case, or a cause number such as "17"
	// (Asterisk reports numbers).
	HangupCause string
	// Q850 is the numeric Q.850 cause when the PBX gave one separately
	// (FreeSWITCH's variable_hangup_cause_q850, Asterisk's cause); 0 when
	// unknown. A recognised HangupCause name wins over it, because
	// FreeSWITCH reports its own causes (ORIGINATOR_CANCEL, LOSE_RACE, ...)
	// as Q.850 16 there and the name is the more precise of the two.
	Q850 int
}

// Outcomes that depend on more than the cause.
const (
	// callerGaveUp: the calling side hung up before anyone answered. That is
	// a missed call for an incoming call; for an outgoing call the callee
	// simply did not answer before the user gave up, which Spoke calls
	// no_answer (Spoke has no "cancelled" status and "missed" describes the
	// callee's side, not the user's).
	callerGaveUp = "caller_gave_up"
)

// cause is one row of the table: the names and numbers of the hangup causes
// that mean the same thing for a leg that was never answered.
type cause struct {
	names   []string
	numbers []int
	// status is the Spoke status, event.StatusNone for legs that must not
	// produce one, or callerGaveUp.
	status string
}

// unansweredCauses is the status table for legs that were never answered.
// Numbers are Q.850 causes (what Asterisk and FreeSWITCH's
// hangup_cause_q850 report) plus, for FreeSWITCH-only causes that have no
// Q.850 number, FreeSWITCH's internal cause number (1.10 numbering).
var unansweredCauses = []cause{
	// The callee's line (or every one of its registrations) was busy.
	{names: []string{"USER_BUSY", "BUSY_EVERYWHERE"}, numbers: []int{17, 815}, status: event.StatusBusy},
	// The callee was alerted (or should have been) and nobody picked up
	// before a ring timer ran out: the PBX's, the network's or the call's
	// own time limit.
	{names: []string{"NO_ANSWER", "NO_USER_RESPONSE", "RECOVERY_ON_TIMER_EXPIRE", "ALLOTTED_TIMEOUT", "PROGRESS_TIMEOUT"}, numbers: []int{19, 18, 102, 802, 807}, status: event.StatusNoAnswer},
	// The callee (a person or their device) actively declined the call.
	{names: []string{"CALL_REJECTED", "DECLINE"}, numbers: []int{21, 816}, status: event.StatusRejected},
	// The dialled number or address does not lead anywhere: unassigned,
	// unroutable, changed, malformed, or an invalid SIP URL.
	{names: []string{"UNALLOCATED_NUMBER", "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_DESTINATION", "NUMBER_CHANGED", "INVALID_NUMBER_FORMAT", "INVALID_URL", "DOES_NOT_EXIST_ANYWHERE"}, numbers: []int{1, 2, 3, 22, 28, 810, 817}, status: event.StatusInvalid},
	// The number is valid but the callee could not be reached right now:
	// not registered or absent, its network or gateway down or congested,
	// no channel free, the service unavailable.
	{names: []string{"SUBSCRIBER_ABSENT", "USER_NOT_REGISTERED", "DESTINATION_OUT_OF_ORDER", "NORMAL_CIRCUIT_CONGESTION", "NETWORK_OUT_OF_ORDER", "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "REQUESTED_CHAN_UNAVAIL", "SERVICE_UNAVAILABLE", "GATEWAY_DOWN"}, numbers: []int{20, 806, 27, 34, 38, 41, 42, 44, 63, 809}, status: event.StatusNotAvailable},
	// A policy forbade the call: outgoing or incoming calls barred, the
	// caller not authorised for the service, or the call marked unwanted.
	{names: []string{"OUTGOING_CALL_BARRED", "INCOMING_CALL_BARRED", "BEARERCAPABILITY_NOTAUTH", "UNWANTED"}, numbers: []int{52, 54, 57, 819}, status: event.StatusBlocked},
	// The caller hung up while it was still ringing. FreeSWITCH says so by
	// name; Asterisk (and FreeSWITCH's Q.850 field) report a plain normal
	// clearing, which on a leg nobody answered can only mean the caller
	// gave up.
	{names: []string{"ORIGINATOR_CANCEL", "NORMAL_CLEARING"}, numbers: []int{487, 16}, status: callerGaveUp},
	// A ring-group or simultaneous-ring leg that lost the race: another
	// phone answered (or picked the call up) first. The call as a whole has
	// a status from the winning leg; this leg has none of its own, so no
	// hook is told the call was missed.
	{names: []string{"ANSWERED_ELSEWHERE", "LOSE_RACE", "PICKED_OFF"}, numbers: []int{26, 702, 805}, status: event.StatusNone},
}

// byName and byNumber index unansweredCauses.
var byName, byNumber = indexCauses()

func indexCauses() (map[string]string, map[int]string) {
	names, numbers := map[string]string{}, map[int]string{}
	for _, c := range unansweredCauses {
		for _, n := range c.names {
			names[n] = c.status
		}
		for _, n := range c.numbers {
			numbers[n] = c.status
		}
	}
	return names, numbers
}

// Derive returns the Spoke status of c. An unknown lifecycle yields
// event.StatusNone rather than a guess; callers validate the lifecycle first.
// An explicit status given by the PBX is not Derive's concern: adapters that
// accept one use it instead of calling Derive.
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
	// Whatever the cause, a conversation took place and then ended.
	if c.Answered {
		return event.StatusEnded
	}
	s, ok := lookup(c.HangupCause, c.Q850)
	if !ok {
		// An unlisted or missing cause on a leg nobody answered: the callee
		// did not pick up, which is the most common reason a call ends
		// unanswered.
		return event.StatusNoAnswer
	}
	if s == callerGaveUp {
		if c.CallType == event.CallTypeIncoming {
			return event.StatusMissed
		}
		return event.StatusNoAnswer
	}
	return s
}

// lookup finds the row for a cause name (or number written as the name),
// falling back to the separate Q.850 number.
func lookup(name string, q850 int) (string, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	if n, err := strconv.Atoi(name); err == nil {
		if s, ok := byNumber[n]; ok {
			return s, true
		}
	} else if s, ok := byName[name]; ok {
		return s, true
	}
	if q850 > 0 {
		s, ok := byNumber[q850]
		return s, ok
	}
	return "", false
}
