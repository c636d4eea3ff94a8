// Package ari parses Asterisk REST Interface (ARI) channel events, the JSON
// objects an ARI application receives on its WebSocket, forwarded to
// pbxhooks one event per message or request.
package ari

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/chanstate"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/status"
)

// source is the Event.source of events parsed here.
const source = "ari"

// Defaults of Options. All are channel variables Asterisk includes in
// channel.channelvars once listed in ari.conf's channelvars setting.
const (
	DefaultAccountVar   = "account_id"
	DefaultDirectionVar = "direction"
	// DefaultLinkedIDVar is the linkedid function as ari.conf lists it
	// (channelvars = CHANNEL(linkedid)); it names the call a leg belongs to.
	DefaultLinkedIDVar = "CHANNEL(linkedid)"
)

const (
	maxIDBytes      = 512
	maxDisplayBytes = 512
	maxSeconds      = 10 * 365 * 24 * 60 * 60
	// stateUp is the channel state of an answered channel; stateDown that
	// of a channel Asterisk created to place a call (Dial, Originate),
	// before it rings.
	stateUp   = "Up"
	stateDown = "Down"
	// stateTimeout bounds one read or write of channel state.
	stateTimeout = 5 * time.Second
)

// Options configure the adapter.
type Options struct {
	// AccountVar is the channel variable naming the account
	// (INGEST_ARI_ACCOUNT_VAR).
	AccountVar string
	// DirectionVar is the channel variable that may say inbound or outbound
	// (INGEST_ARI_DIRECTION_VAR).
	DirectionVar string
	// LinkedIDVar is the channel variable holding the linkedid that groups
	// a call's legs into one thread_id (INGEST_ARI_LINKEDID_VAR).
	LinkedIDVar string
	// Channels keeps what a channel's earlier events said. Without it each
	// event is read alone: a leg's direction is guessed from its current
	// dialplan application, the caller is what the event carries and a
	// Dial's outcome is not known when the leg ends.
	Channels chanstate.Store
}

// Adapter registers the ARI format with the HTTP intake and the NATS
// consumer: subject pbx.ari.<account_id or "any">, route
// POST /v1/accounts/{account_id}/events/ari. Its parsing keeps per-channel
// state, so the NATS consumer feeds it in order (Ordered).
func Adapter(opts Options) adapter.Adapter {
	if opts.AccountVar == "" {
		opts.AccountVar = DefaultAccountVar
	}
	if opts.DirectionVar == "" {
		opts.DirectionVar = DefaultDirectionVar
	}
	if opts.LinkedIDVar == "" {
		opts.LinkedIDVar = DefaultLinkedIDVar
	}
	return adapter.Adapter{
		Name:    source,
		Subject: bus.SubjectPBXARIAll,
		Path:    "/v1/accounts/{account_id}/events/ari",
		Ordered: opts.Channels != nil,
		Parse: func(raw []byte, accountID string, receivedAt time.Time) (*pbxhooksv1.Event, error) {
			return parse(raw, accountID, receivedAt, opts)
		},
	}
}

// ariEvent is the part of an ARI event pbxhooks reads. Members of the wrong
// JSON type fail the decode and the event is rejected.
type ariEvent struct {
	Type       *string  `json:"type"`
	Timestamp  string   `json:"timestamp"`
	AsteriskID string   `json:"asterisk_id"`
	Cause      *int     `json:"cause"`
	CauseTxt   string   `json:"cause_txt"`
	Channel    *channel `json:"channel"`
	// Dial: the channel being dialled (peer), the one dialling (caller,
	// absent for an Originate) and, once the attempt is over, its outcome.
	Peer       *channel `json:"peer"`
	Caller     *channel `json:"caller"`
	DialStatus string   `json:"dialstatus"`
	Bridge     *struct {
		ID string `json:"id"`
	} `json:"bridge"`
}

type channel struct {
	ID           string            `json:"id"`
	State        string            `json:"state"`
	Caller       party             `json:"caller"`
	Connected    party             `json:"connected"`
	Dialplan     dialplan          `json:"dialplan"`
	CreationTime string            `json:"creationtime"`
	ChannelVars  map[string]string `json:"channelvars"`
}

type party struct {
	Name   string `json:"name"`
	Number string `json:"number"`
}

type dialplan struct {
	Exten   string `json:"exten"`
	AppName string `json:"app_name"`
}

// parse turns one ARI event into a canonical Event.
//
// Lifecycles: ChannelCreated of a ringing channel, StasisStart, a Dial
// starting to ring its peer, and ChannelStateChange to Ring or Ringing are
// channel_create; ChannelStateChange to Up is channel_answer;
// ChannelEnteredBridge is channel_bridge; ChannelDestroyed is
// channel_destroy. The event id is a digest of the channel id and the
// lifecycle, so however many of those ARI sends for one channel, each
// lifecycle is stored once (within the dedupe window).
//
// A channel created Down is one Asterisk made to place a call: it is not
// ringing yet and its caller is set just after (ChannelCallerId), so its
// channel_create waits for the Dial that rings it. ChannelCallerId and a
// finished Dial only update the channel's state. Other event types and
// other state changes are adapter.ErrIgnored.
func parse(raw []byte, routeAccount string, receivedAt time.Time, opts Options) (*pbxhooksv1.Event, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, adapter.Invalid(adapter.BodyField, adapter.RuleType, "the event must be a JSON object (an ARI event)")
	}
	var in ariEvent
	if err := json.Unmarshal(trimmed, &in); err != nil {
		return nil, adapter.Invalid(adapter.BodyField, adapter.RuleFormat, "the event is not a valid ARI event: "+err.Error())
	}
	if in.Type == nil || *in.Type == "" {
		return nil, adapter.Invalid("type", adapter.RuleRequired, "type is required")
	}
	typ := *in.Type
	ch, field := in.Channel, "channel"
	if typ == "Dial" {
		ch, field = in.Peer, "peer"
	}
	if !handles(typ) {
		return nil, adapter.Ignored("ARI event " + adapter.Clip(typ, 64))
	}
	if ch == nil {
		return nil, adapter.Invalid(field, adapter.RuleRequired, field+" is required for "+typ)
	}
	accountID, verr := adapter.ResolveAccount(routeAccount, ch.ChannelVars[opts.AccountVar], field+".channelvars."+opts.AccountVar)
	if verr != nil {
		return nil, verr
	}
	problems := &adapter.ValidationError{AccountID: accountID}
	for _, c := range []*channel{ch, in.Caller} {
		switch {
		case c == nil:
		case c.ID == "":
			problems.Add(field+".id", adapter.RuleRequired, field+".id is required")
		case len(c.ID) > maxIDBytes:
			problems.Add(field+".id", adapter.RuleMaxLength, field+".id must be at most "+strconv.Itoa(maxIDBytes)+" bytes")
		}
		field = "caller"
	}
	occurred, ok := parseTime(in.Timestamp)
	if !ok {
		problems.Add("timestamp", adapter.RuleFormat, "timestamp must be an ARI date-time such as 2026-01-02T15:04:05.000+0000")
	}
	if in.Timestamp == "" {
		occurred = receivedAt
	}
	if err := problems.OrNil(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	// A finished Dial's outcome goes on the peer (ch) with what this event
	// adds to it, in one read and write, and then on the caller.
	var dialStatus string
	if typ == "Dial" {
		dialStatus = in.DialStatus
	}
	st, err := remember(ctx, opts, accountID, in.AsteriskID, ch, typ == "Dial", dialStatus)
	if err != nil {
		return nil, err
	}
	lifecycle, handled := lifecycleOf(typ, ch, in.DialStatus)
	if dialStatus != "" {
		if err := recordCallerDialStatus(ctx, opts, accountID, in.AsteriskID, dialStatus, in.Caller); err != nil {
			return nil, err
		}
	}
	if !handled {
		return nil, adapter.Ignored("ARI " + adapter.Clip(typ, 64) + " of a channel in state " + adapter.Clip(ch.State, 64))
	}

	ev := &pbxhooksv1.Event{
		Id:         adapter.DigestID(source, ch.ID, lifecycle),
		AccountId:  accountID,
		Kind:       event.KindCall,
		Source:     source,
		Lifecycle:  lifecycle,
		ReceivedAt: timestamppb.New(receivedAt.UTC()),
		OccurredAt: timestamppb.New(occurred.UTC()),
		CallId:     ch.ID,
		Direction:  st.Direction,
		From:       adapter.Clip(cmp.Or(ch.Caller.Number, st.FromNumber), maxDisplayBytes),
		FromName:   adapter.Clip(cmp.Or(ch.Caller.Name, st.FromName), maxDisplayBytes),
		To:         adapter.Clip(calledNumber(ch), maxDisplayBytes),
		ToName:     adapter.Clip(ch.Connected.Name, maxDisplayBytes),
		ThreadId:   adapter.Clip(st.Thread, maxIDBytes),
	}
	if typ == "Dial" && in.Caller != nil {
		ev.OtherLegCallId = in.Caller.ID
	}
	if ch.ChannelVars[event.ReconstructedVar] == "true" {
		// Made up by the connector after a gap in the WebSocket.
		ev.CustomChannelVars = map[string]string{event.ReconstructedVar: "true"}
	}
	ev.CallType = event.CallTypeForDirection(ev.Direction)
	call := status.Call{Lifecycle: lifecycle, CallType: ev.CallType}
	if lifecycle == event.LifecycleChannelDestroy {
		ev.Hangup = hangup(&in, occurred)
		if st.DialStatus == dialAnswer {
			ev.Hangup.Answered = true
			ev.Hangup.RingingSeconds = 0
		}
		call.Answered = ev.Hangup.GetAnswered()
		call.HangupCause = dialStatusCauses[st.DialStatus]
		if in.Cause != nil {
			call.Q850 = *in.Cause
		}
	}
	ev.Status = status.Derive(call)
	return ev, nil
}

// handles lists the ARI event types parse reads; the others are ignored
// before anything else is checked.
func handles(typ string) bool {
	switch typ {
	case "ChannelCreated", "StasisStart", "ChannelStateChange", "ChannelCallerId",
		"Dial", "ChannelEnteredBridge", "ChannelDestroyed":
		return true
	}
	return false
}

// dialAnswer is the dialstatus of a Dial whose peer answered.
const dialAnswer = "ANSWER"

// dialStatusCauses translates a Dial's final dialstatus into the hangup
// cause status.Derive reads. Asterisk destroys the legs of a failed Dial
// with cause 0 or 16 whatever the failure, so the dialstatus, when known,
// decides the outcome.
var dialStatusCauses = map[string]string{
	"BUSY":        "USER_BUSY",
	"NOANSWER":    "NO_ANSWER",
	"CANCEL":      "ORIGINATOR_CANCEL",
	"CONGESTION":  "NORMAL_CIRCUIT_CONGESTION",
	"CHANUNAVAIL": "REQUESTED_CHAN_UNAVAIL",
}

// remember returns ch's state, recording what this event adds: the
// direction when the channel is first seen, and the latest caller and
// linkedid, and a finished Dial's dialStatus when ch is its peer. A
// Dial's peer seen first in that Dial is outbound.
func remember(ctx context.Context, opts Options, accountID, asteriskID string, ch *channel, dialPeer bool, dialStatus string) (chanstate.State, error) {
	fresh := chanstate.State{Direction: direction(ch, opts.DirectionVar, dialPeer)}
	if opts.Channels == nil {
		fresh.Thread = ch.ChannelVars[opts.LinkedIDVar]
		return fresh, nil
	}
	key := chanstate.Key(source, accountID, asteriskID, ch.ID)
	st, found, err := opts.Channels.Get(ctx, key)
	if err != nil {
		return chanstate.State{}, err
	}
	before := st
	if !found {
		st = fresh
	}
	if ch.Caller.Number != "" || ch.Caller.Name != "" {
		st.FromNumber, st.FromName = ch.Caller.Number, ch.Caller.Name
	}
	if id := ch.ChannelVars[opts.LinkedIDVar]; id != "" {
		st.Thread = id
	}
	keepDialStatus(&st, dialStatus)
	if !found || st != before {
		if err := opts.Channels.Put(ctx, key, st); err != nil {
			return chanstate.State{}, err
		}
	}
	return st, nil
}

// recordCallerDialStatus stores a finished Dial's outcome on its caller
// (remember stores it on the peer).
func recordCallerDialStatus(ctx context.Context, opts Options, accountID, asteriskID, dialStatus string, caller *channel) error {
	if opts.Channels == nil || caller == nil {
		return nil
	}
	key := chanstate.Key(source, accountID, asteriskID, caller.ID)
	st, found, err := opts.Channels.Get(ctx, key)
	if err != nil {
		return err
	}
	if !found {
		st = chanstate.State{Direction: direction(caller, opts.DirectionVar, false), FromNumber: caller.Caller.Number, FromName: caller.Caller.Name, Thread: caller.ChannelVars[opts.LinkedIDVar]}
	}
	if !keepDialStatus(&st, dialStatus) {
		return nil
	}
	return opts.Channels.Put(ctx, key, st)
}

// keepDialStatus records a finished Dial's dialStatus in st and reports
// whether st changed. An ANSWER is kept over a later failure: a caller
// whose ring group was answered by one peer is answered whatever the
// others did.
func keepDialStatus(st *chanstate.State, dialStatus string) bool {
	if dialStatus == "" || st.DialStatus == dialAnswer || st.DialStatus == dialStatus {
		return false
	}
	st.DialStatus = adapter.Clip(dialStatus, 32)
	return true
}

// lifecycleOf maps an ARI event type (and, for state changes, the new
// state) to a Kazoo lifecycle.
func lifecycleOf(typ string, ch *channel, dialStatus string) (string, bool) {
	switch typ {
	case "ChannelCreated":
		return event.LifecycleChannelCreate, ch.State != stateDown
	case "StasisStart":
		return event.LifecycleChannelCreate, true
	case "Dial":
		// The Dial that starts ringing the peer; the one with a
		// dialstatus only ends the attempt.
		return event.LifecycleChannelCreate, dialStatus == ""
	case "ChannelEnteredBridge":
		return event.LifecycleChannelBridge, true
	case "ChannelDestroyed":
		return event.LifecycleChannelDestroy, true
	case "ChannelStateChange":
		switch ch.State {
		case "Ring", "Ringing":
			return event.LifecycleChannelCreate, true
		case stateUp:
			return event.LifecycleChannelAnswer, true
		}
	}
	return "", false
}

// hangup reads ChannelDestroyed. ARI does not say whether the channel was
// ever answered, but the snapshot it sends keeps the channel's last state:
// Up means it was answered (an answered channel does not go back to
// ringing). Duration is from the channel's creation to the event.
func hangup(in *ariEvent, occurred time.Time) *pbxhooksv1.Hangup {
	out := &pbxhooksv1.Hangup{
		Cause:    adapter.Clip(in.CauseTxt, maxDisplayBytes),
		Answered: in.Channel.State == stateUp,
	}
	if in.Cause != nil {
		out.Code = "q850:" + strconv.Itoa(*in.Cause)
	}
	if created, ok := parseTime(in.Channel.CreationTime); ok && in.Channel.CreationTime != "" {
		if d := int64(occurred.Sub(created) / time.Second); d >= 0 && d <= maxSeconds {
			out.DurationSeconds = d
		}
	}
	if !out.Answered {
		out.RingingSeconds = out.DurationSeconds
	}
	return out
}

// direction is the direction channel variable when it says inbound or
// outbound. Otherwise a channel Asterisk created to place a call is
// outbound: one created Down (a channel reaching Asterisk is created
// ringing), the peer of a Dial, or one whose dialplan application is the
// AppDial placeholder; any other is inbound, which matches FreeSWITCH's
// Call-Direction: relative to the PBX. With channel state this is decided
// on the channel's first event and kept.
func direction(ch *channel, varName string, dialPeer bool) string {
	switch d := ch.ChannelVars[varName]; d {
	case event.DirectionInbound, event.DirectionOutbound:
		return d
	}
	if dialPeer || ch.State == stateDown || ch.Dialplan.AppName == "AppDial" || ch.Dialplan.AppName == "AppDial2" {
		return event.DirectionOutbound
	}
	return event.DirectionInbound
}

// calledNumber is the dialled extension; channels that run the `s`
// extension or none at all report the connected party instead.
func calledNumber(ch *channel) string {
	if ch.Dialplan.Exten != "" && ch.Dialplan.Exten != "s" {
		return ch.Dialplan.Exten
	}
	return ch.Connected.Number
}

// parseTime reads ARI's timestamps (2026-01-02T15:04:05.123+0000) and RFC
// 3339; "" is ok and the zero time.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
