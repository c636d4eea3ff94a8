// Package ari parses Asterisk REST Interface (ARI) channel events, the JSON
// objects an ARI application receives on its WebSocket, forwarded to
// pbxhooks one event per message or request.
package ari

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/status"
)

// source is the Event.source of events parsed here.
const source = "ari"

// Defaults of Options. Both are channel variables Asterisk includes in
// channel.channelvars once listed in ari.conf's channelvars setting.
const (
	DefaultAccountVar   = "account_id"
	DefaultDirectionVar = "direction"
)

const (
	maxIDBytes      = 512
	maxDisplayBytes = 512
	maxSeconds      = 10 * 365 * 24 * 60 * 60
	// stateUp is the channel state of an answered channel.
	stateUp = "Up"
)

// Options configure the adapter.
type Options struct {
	// AccountVar is the channel variable naming the account
	// (INGEST_ARI_ACCOUNT_VAR).
	AccountVar string
	// DirectionVar is the channel variable that may say inbound or outbound
	// (INGEST_ARI_DIRECTION_VAR).
	DirectionVar string
}

// Adapter registers the ARI format with the HTTP intake and the NATS
// consumer: subject pbx.ari.<account_id or "any">, route
// POST /v1/accounts/{account_id}/events/ari.
func Adapter(opts Options) adapter.Adapter {
	if opts.AccountVar == "" {
		opts.AccountVar = DefaultAccountVar
	}
	if opts.DirectionVar == "" {
		opts.DirectionVar = DefaultDirectionVar
	}
	return adapter.Adapter{
		Name:    source,
		Subject: bus.SubjectPBXARIAll,
		Path:    "/v1/accounts/{account_id}/events/ari",
		Parse: func(raw []byte, accountID string, receivedAt time.Time) (*pbxhooksv1.Event, error) {
			return parse(raw, accountID, receivedAt, opts)
		},
	}
}

// ariEvent is the part of an ARI event pbxhooks reads. Members of the wrong
// JSON type fail the decode and the event is rejected.
type ariEvent struct {
	Type      *string  `json:"type"`
	Timestamp string   `json:"timestamp"`
	Cause     *int     `json:"cause"`
	CauseTxt  string   `json:"cause_txt"`
	Channel   *channel `json:"channel"`
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
// Lifecycles: ChannelCreated and StasisStart are channel_create (an
// application sees one or the other, or both); ChannelStateChange to Ring or
// Ringing is channel_create and to Up is channel_answer; ChannelDestroyed is
// channel_destroy. The event id is a digest of the channel id and the
// lifecycle, so however many of those ARI sends for one channel, each
// lifecycle is stored once (within the dedupe window). Other event types and
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
	lifecycle, handled := lifecycleOf(*in.Type, in.Channel)
	if !handled {
		return nil, adapter.Ignored("ARI event " + adapter.Clip(*in.Type, 64))
	}
	if in.Channel == nil {
		return nil, adapter.Invalid("channel", adapter.RuleRequired, "channel is required for "+*in.Type)
	}
	ch := in.Channel
	accountID, verr := adapter.ResolveAccount(routeAccount, ch.ChannelVars[opts.AccountVar], "channel.channelvars."+opts.AccountVar)
	if verr != nil {
		return nil, verr
	}
	problems := &adapter.ValidationError{AccountID: accountID}
	switch {
	case ch.ID == "":
		problems.Add("channel.id", adapter.RuleRequired, "channel.id is required")
	case len(ch.ID) > maxIDBytes:
		problems.Add("channel.id", adapter.RuleMaxLength, "channel.id must be at most "+strconv.Itoa(maxIDBytes)+" bytes")
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

	ev := &pbxhooksv1.Event{
		Id:         adapter.DigestID(source, ch.ID, lifecycle),
		AccountId:  accountID,
		Kind:       event.KindCall,
		Source:     source,
		Lifecycle:  lifecycle,
		ReceivedAt: timestamppb.New(receivedAt.UTC()),
		OccurredAt: timestamppb.New(occurred.UTC()),
		CallId:     ch.ID,
		Direction:  direction(ch, opts.DirectionVar),
		From:       adapter.Clip(ch.Caller.Number, maxDisplayBytes),
		FromName:   adapter.Clip(ch.Caller.Name, maxDisplayBytes),
		To:         adapter.Clip(calledNumber(ch), maxDisplayBytes),
		ToName:     adapter.Clip(ch.Connected.Name, maxDisplayBytes),
	}
	ev.CallType = event.CallTypeForDirection(ev.Direction)
	call := status.Call{Lifecycle: lifecycle, CallType: ev.CallType}
	if lifecycle == event.LifecycleChannelDestroy {
		ev.Hangup = hangup(&in, occurred)
		call.Answered = ev.Hangup.GetAnswered()
		if in.Cause != nil {
			call.Q850 = *in.Cause
		}
	}
	ev.Status = status.Derive(call)
	return ev, nil
}

// lifecycleOf maps an ARI event type (and, for state changes, the new
// state) to a Kazoo lifecycle.
func lifecycleOf(typ string, ch *channel) (string, bool) {
	switch typ {
	case "ChannelCreated", "StasisStart":
		return event.LifecycleChannelCreate, true
	case "ChannelDestroyed":
		return event.LifecycleChannelDestroy, true
	case "ChannelStateChange":
		if ch == nil {
			// Reported as a missing channel by the caller.
			return event.LifecycleChannelCreate, true
		}
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
// outbound; otherwise a channel Asterisk created for Dial() (its dialplan
// application is the AppDial placeholder) is outbound and any other is
// inbound, which matches FreeSWITCH's Call-Direction: relative to the PBX.
func direction(ch *channel, varName string) string {
	switch d := ch.ChannelVars[varName]; d {
	case event.DirectionInbound, event.DirectionOutbound:
		return d
	}
	if ch.Dialplan.AppName == "AppDial" || ch.Dialplan.AppName == "AppDial2" {
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
