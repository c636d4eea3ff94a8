// Package ami parses Asterisk Manager Interface call events (Events:
// call,cdr), forwarded to pbxhooks one raw AMI message per message by the
// AMI connector.
package ami

import (
	"cmp"
	"context"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	amimsg "github.com/pbxhooks/pbxhooks/pkg/ami"
	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/chanstate"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/status"
)

// source is the Event.source of events parsed here.
const source = "ami"

// Defaults of Options: channel variables manager.conf's channelvars adds
// to every event as ChanVariable headers.
const (
	DefaultAccountVar   = "account_id"
	DefaultDirectionVar = "direction"
)

const (
	maxIDBytes      = 512
	maxDisplayBytes = 512
	stateTimeout    = 5 * time.Second
	// AMI channel states (ChannelState).
	stateDown    = "0"
	stateRing    = "4"
	stateRinging = "5"
	stateUp      = "6"
	dialAnswer   = "ANSWER"
)

// Options configure the adapter.
type Options struct {
	// AccountVar is the ChanVariable naming the account (for pbx.ami.any).
	AccountVar string
	// DirectionVar is the ChanVariable that may say inbound or outbound.
	DirectionVar string
	// Channels keeps what a channel's earlier events said; without it each
	// event is read alone.
	Channels chanstate.Store
}

// Adapter registers the AMI format with the NATS consumer (subject
// pbx.ami.<account_id or "any">); there is no HTTP route, since the HTTP
// intake takes JSON and AMI messages are text. Its parsing keeps
// per-channel state, so the consumer feeds it in order.
func Adapter(opts Options) adapter.Adapter {
	opts.AccountVar = cmp.Or(opts.AccountVar, DefaultAccountVar)
	opts.DirectionVar = cmp.Or(opts.DirectionVar, DefaultDirectionVar)
	return adapter.Adapter{
		Name:    source,
		Subject: bus.SubjectPBXAMIAll,
		Ordered: opts.Channels != nil,
		Parse: func(raw []byte, accountID string, receivedAt time.Time) (*pbxhooksv1.Event, error) {
			return parse(raw, accountID, receivedAt, opts)
		},
	}
}

// leg is one channel as an AMI event describes it: the channel's own
// headers, or a Dial event's Dest-prefixed ones.
type leg struct {
	uniqueID, linkedID, state, callerNum, callerName, exten string
}

func legOf(m *amimsg.Message, prefix string) leg {
	return leg{
		uniqueID:   m.Get(prefix + "Uniqueid"),
		linkedID:   m.Get(prefix + "Linkedid"),
		state:      m.Get(prefix + "ChannelState"),
		callerNum:  party(m.Get(prefix + "CallerIDNum")),
		callerName: party(m.Get(prefix + "CallerIDName")),
		exten:      m.Get(prefix + "Exten"),
	}
}

// party drops AMI's "<unknown>" placeholder.
func party(s string) string {
	if s == "<unknown>" {
		return ""
	}
	return s
}

// parse turns one AMI event into a canonical Event.
//
// Newchannel of a ringing channel, DialBegin (for the dialled channel) and
// Newstate to Ring or Ringing are channel_create; Newstate to Up is
// channel_answer; BridgeEnter is channel_bridge; Hangup is channel_destroy.
// A channel created Down is one Asterisk made to place a call: its
// channel_create is the DialBegin that rings it. NewCallerid and DialEnd
// only update the channel's state. Other events are adapter.ErrIgnored.
func parse(raw []byte, routeAccount string, receivedAt time.Time, opts Options) (*pbxhooksv1.Event, error) {
	m, err := amimsg.Parse(raw)
	if err != nil {
		return nil, adapter.Invalid(adapter.BodyField, adapter.RuleFormat, "the event is not an AMI message: "+err.Error())
	}
	name := m.Get("Event")
	if name == "" {
		return nil, adapter.Invalid("Event", adapter.RuleRequired, "Event is required (an AMI event, not a response)")
	}
	prefix := ""
	switch name {
	case "Newchannel", "Newstate", "NewCallerid", "BridgeEnter", "Hangup":
	case "DialBegin", "DialEnd":
		prefix = "Dest"
	default:
		return nil, adapter.Ignored("AMI event " + adapter.Clip(name, 64))
	}
	ch := legOf(m, prefix)
	vars := m.Variables()
	accountID, verr := adapter.ResolveAccount(routeAccount, vars[opts.AccountVar], "ChanVariable "+opts.AccountVar)
	if verr != nil {
		return nil, verr
	}
	problems := &adapter.ValidationError{AccountID: accountID}
	switch {
	case ch.uniqueID == "":
		problems.Add(prefix+"Uniqueid", adapter.RuleRequired, prefix+"Uniqueid is required for "+name)
	case len(ch.uniqueID) > maxIDBytes:
		problems.Add(prefix+"Uniqueid", adapter.RuleMaxLength, prefix+"Uniqueid must be at most "+strconv.Itoa(maxIDBytes)+" bytes")
	}
	occurred := receivedAt
	if ts := m.Get("Timestamp"); ts != "" {
		// timestampevents = yes: seconds since the epoch with a fraction.
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil || f < 0 || f > 1<<40 {
			problems.Add("Timestamp", adapter.RuleFormat, "Timestamp must be seconds since the epoch")
		} else {
			occurred = time.UnixMicro(int64(f * 1e6))
		}
	}
	if err := problems.OrNil(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	// A DialEnd's outcome goes on the dialled channel (ch) with what this
	// event adds to it, in one read and write, and then on the caller.
	var dialStatus string
	if name == "DialEnd" {
		dialStatus = m.Get("DialStatus")
	}
	st, err := remember(ctx, opts, accountID, ch, vars, prefix == "Dest", dialStatus)
	if err != nil {
		return nil, err
	}
	if name == "DialEnd" {
		if err := recordCallerDialStatus(ctx, opts, accountID, dialStatus, legOf(m, "")); err != nil {
			return nil, err
		}
		return nil, adapter.Ignored("AMI DialEnd")
	}
	lifecycle, handled := lifecycleOf(name, ch.state)
	if !handled {
		return nil, adapter.Ignored("AMI " + adapter.Clip(name, 64) + " in channel state " + adapter.Clip(ch.state, 16))
	}
	ev := &pbxhooksv1.Event{
		Id:         adapter.DigestID(source, ch.uniqueID, lifecycle),
		AccountId:  accountID,
		Kind:       event.KindCall,
		Source:     source,
		Lifecycle:  lifecycle,
		ReceivedAt: timestamppb.New(receivedAt.UTC()),
		OccurredAt: timestamppb.New(occurred.UTC()),
		CallId:     ch.uniqueID,
		Direction:  st.Direction,
		From:       adapter.Clip(cmp.Or(ch.callerNum, st.FromNumber), maxDisplayBytes),
		FromName:   adapter.Clip(cmp.Or(ch.callerName, st.FromName), maxDisplayBytes),
		To:         adapter.Clip(ch.exten, maxDisplayBytes),
		ThreadId:   adapter.Clip(st.Thread, maxIDBytes),
	}
	if name == "DialBegin" {
		ev.OtherLegCallId = adapter.Clip(m.Get("Uniqueid"), maxIDBytes)
	}
	if vars[event.ReconstructedVar] == "true" {
		ev.CustomChannelVars = map[string]string{event.ReconstructedVar: "true"}
	}
	ev.CallType = event.CallTypeForDirection(ev.Direction)
	call := status.Call{Lifecycle: lifecycle, CallType: ev.CallType}
	if lifecycle == event.LifecycleChannelDestroy {
		cause, _ := strconv.Atoi(m.Get("Cause"))
		ev.Hangup = &pbxhooksv1.Hangup{
			Cause:    adapter.Clip(m.Get("Cause-txt"), maxDisplayBytes),
			Answered: ch.state == stateUp || st.DialStatus == dialAnswer,
		}
		if m.Get("Cause") != "" {
			ev.Hangup.Code = "q850:" + strconv.Itoa(cause)
		}
		call.Answered = ev.Hangup.GetAnswered()
		call.HangupCause = dialStatusCauses[st.DialStatus]
		call.Q850 = cause
	}
	ev.Status = status.Derive(call)
	return ev, nil
}

// dialStatusCauses translates DialEnd's DialStatus into the hangup cause
// status.Derive reads; Asterisk ends the legs of a failed Dial with cause
// 0 or 16 whatever the failure.
var dialStatusCauses = map[string]string{
	"BUSY":        "USER_BUSY",
	"NOANSWER":    "NO_ANSWER",
	"CANCEL":      "ORIGINATOR_CANCEL",
	"CONGESTION":  "NORMAL_CIRCUIT_CONGESTION",
	"CHANUNAVAIL": "REQUESTED_CHAN_UNAVAIL",
}

func lifecycleOf(name, state string) (string, bool) {
	switch name {
	case "Newchannel":
		return event.LifecycleChannelCreate, state != stateDown
	case "DialBegin":
		return event.LifecycleChannelCreate, true
	case "BridgeEnter":
		return event.LifecycleChannelBridge, true
	case "Hangup":
		return event.LifecycleChannelDestroy, true
	case "Newstate":
		switch state {
		case stateRing, stateRinging:
			return event.LifecycleChannelCreate, true
		case stateUp:
			return event.LifecycleChannelAnswer, true
		}
	}
	return "", false
}

// direction: the direction variable when it says inbound or outbound;
// else a channel Asterisk created to place a call (created Down, or the
// destination of a Dial) is outbound, any other inbound. Decided on the
// channel's first event and kept.
func direction(ch leg, vars map[string]string, varName string, dialPeer bool) string {
	switch d := vars[varName]; d {
	case event.DirectionInbound, event.DirectionOutbound:
		return d
	}
	if dialPeer || ch.state == stateDown {
		return event.DirectionOutbound
	}
	return event.DirectionInbound
}

func remember(ctx context.Context, opts Options, accountID string, ch leg, vars map[string]string, dialPeer bool, dialStatus string) (chanstate.State, error) {
	fresh := chanstate.State{Direction: direction(ch, vars, opts.DirectionVar, dialPeer), Thread: ch.linkedID}
	if opts.Channels == nil {
		return fresh, nil
	}
	key := chanstate.Key(source, accountID, "", ch.uniqueID)
	st, found, err := opts.Channels.Get(ctx, key)
	if err != nil {
		return chanstate.State{}, err
	}
	before := st
	if !found {
		st = fresh
	}
	if ch.callerNum != "" || ch.callerName != "" {
		st.FromNumber, st.FromName = ch.callerNum, ch.callerName
	}
	if ch.linkedID != "" {
		st.Thread = ch.linkedID
	}
	keepDialStatus(&st, dialStatus)
	if !found || st != before {
		if err := opts.Channels.Put(ctx, key, st); err != nil {
			return chanstate.State{}, err
		}
	}
	return st, nil
}

// recordCallerDialStatus stores a DialEnd's outcome on the dialling
// channel (remember stores it on the dialled one).
func recordCallerDialStatus(ctx context.Context, opts Options, accountID, dialStatus string, caller leg) error {
	if opts.Channels == nil || dialStatus == "" || caller.uniqueID == "" || len(caller.uniqueID) > maxIDBytes {
		return nil
	}
	key := chanstate.Key(source, accountID, "", caller.uniqueID)
	st, found, err := opts.Channels.Get(ctx, key)
	if err != nil {
		return err
	}
	if !found {
		st = chanstate.State{Direction: direction(caller, nil, "", false), FromNumber: caller.callerNum, FromName: caller.callerName, Thread: caller.linkedID}
	}
	if !keepDialStatus(&st, dialStatus) {
		return nil
	}
	return opts.Channels.Put(ctx, key, st)
}

// keepDialStatus records a DialEnd's dialStatus in st and reports whether
// st changed; an ANSWER is kept over a later failure.
func keepDialStatus(st *chanstate.State, dialStatus string) bool {
	if dialStatus == "" || st.DialStatus == dialAnswer || st.DialStatus == dialStatus {
		return false
	}
	st.DialStatus = adapter.Clip(strings.ToUpper(dialStatus), 32)
	return true
}
