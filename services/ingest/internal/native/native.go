// Package native parses pbxhooks' own JSON event format, the one documented
// in the README for PBXs that can be taught to speak it directly.
package native

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/status"
)

// source is the Event.source of events parsed here.
const source = "native"

// Bounds on what one event may carry. They are generous for any real PBX
// and stop a hostile sender from making one event arbitrarily expensive.
const (
	maxStringBytes       = 512
	maxIDLength          = 128
	maxCustomVars        = 64
	maxCustomVarKeyBytes = 128
	// maxSeconds is ten years: a longer call is a PBX bug, not a call.
	maxSeconds     = 10 * 365 * 24 * 60 * 60
	maxMediaBytes  = 1 << 40
	derivedIDChars = 32
)

// Event names of the native format: the Kazoo lifecycles plus the media
// types.
var eventNames = append(append([]string{}, event.Lifecycles...), event.MediaTypes...)

// Adapter registers the native format with the HTTP intake and the NATS
// consumer.
func Adapter() adapter.Adapter {
	return adapter.Adapter{
		Name:    source,
		Subject: bus.SubjectPBXNativeAll,
		Path:    "/v1/accounts/{account_id}/events",
		Parse:   parse,
	}
}

// parse turns one native JSON event into a canonical Event. Unknown members
// are ignored; wrong types, unknown enum values, missing required members
// and over-long values are all reported together in a
// *adapter.ValidationError. Without an `id` the event id is a digest of raw,
// so a PBX re-sending the same bytes is deduplicated.
func parse(raw []byte, accountID string, receivedAt time.Time) (*pbxhooksv1.Event, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return nil, adapter.Invalid("account_id", adapter.RulePattern, err.Error())
	}
	if accountID == adapter.AnyAccount {
		// The shared route names each event's account in a channel
		// variable; native events have no such variable.
		return nil, adapter.Invalid("account_id", adapter.RulePattern, "the shared account \"any\" is only for FreeSWITCH and ARI events; send native events to the account's own route")
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, adapter.Invalid(adapter.BodyField, adapter.RuleType, "the event must be a JSON object")
	}
	f := &fields{}
	if err := json.Unmarshal(trimmed, &f.raw); err != nil {
		return nil, adapter.Invalid(adapter.BodyField, adapter.RuleFormat, "the event is not valid JSON: "+err.Error())
	}

	name := f.enum("event", eventNames)
	if _, ok := f.present("event"); !ok {
		f.add("event", adapter.RuleRequired, "is required")
	}
	ev := &pbxhooksv1.Event{
		Id:                eventID(f, raw),
		AccountId:         accountID,
		Source:            source,
		ReceivedAt:        timestamppb.New(receivedAt.UTC()),
		OccurredAt:        timestamppb.New(occurredAt(f, receivedAt)),
		Direction:         f.enum("direction", []string{event.DirectionInbound, event.DirectionOutbound}),
		From:              f.str("from", maxStringBytes),
		FromName:          f.str("from_name", maxStringBytes),
		To:                f.str("to", maxStringBytes),
		ToName:            f.str("to_name", maxStringBytes),
		Request:           f.str("request", maxStringBytes),
		Inception:         f.str("inception", maxStringBytes),
		ThreadId:          f.str("thread_id", maxStringBytes),
		OtherLegCallId:    f.str("other_leg_call_id", maxStringBytes),
		CustomChannelVars: f.stringMap("custom_channel_vars", maxCustomVars, maxCustomVarKeyBytes, maxStringBytes),
	}
	ev.CallType = event.CallTypeForDirection(ev.Direction)
	ev.IsInternalLeg, _ = f.boolean("is_internal_leg")
	hangup := hangupFields(f)
	explicitStatus := f.enum("status", event.CallStatuses)
	media := mediaFields(f)

	switch {
	case event.IsLifecycle(name):
		ev.Kind = event.KindCall
		ev.Lifecycle = name
		ev.CallId = f.requiredStr("call_id", maxStringBytes, " for call events")
		if name == event.LifecycleChannelDestroy {
			ev.Hangup = hangup
		}
		ev.Status = explicitStatus
		if ev.Status == "" {
			ev.Status = status.Derive(status.Call{
				Lifecycle:   name,
				CallType:    ev.CallType,
				Answered:    hangup.GetAnswered(),
				HangupCause: hangup.GetCause(),
			})
		}
	case event.IsMediaType(name):
		ev.Kind = event.KindMedia
		ev.CallId = f.str("call_id", maxStringBytes)
		media.Type = name
		ev.Media = media
	}
	if err := f.problems.OrNil(); err != nil {
		return nil, err
	}
	return ev, nil
}

// eventID is the PBX's id when valid, else the first 32 hex characters of
// the SHA-256 of the raw event.
func eventID(f *fields, raw []byte) string {
	if _, ok := f.present("id"); ok {
		id := f.str("id", maxStringBytes)
		if id == "" && f.lastProblemIs("id") {
			return ""
		}
		if id == "" {
			f.add("id", adapter.RuleMinLength, "must not be empty; omit it to let pbxhooks derive one")
			return ""
		}
		if len(id) > maxIDLength {
			f.add("id", adapter.RuleMaxLength, "must be at most %d characters", maxIDLength)
			return ""
		}
		for i := range len(id) {
			// Printable ASCII without space: the id becomes part of the
			// Nats-Msg-Id header and of log lines.
			if id[i] < '!' || id[i] > '~' {
				f.add("id", adapter.RulePattern, "must be printable ASCII without whitespace")
				return ""
			}
		}
		return id
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:derivedIDChars]
}

func occurredAt(f *fields, receivedAt time.Time) time.Time {
	s := f.str("timestamp", maxStringBytes)
	if s == "" {
		return receivedAt.UTC()
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		f.add("timestamp", adapter.RuleFormat, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z")
		return receivedAt.UTC()
	}
	return t.UTC()
}

// hangupFields reads what a channel_destroy carries. A leg counts as
// answered when the PBX says so or when it billed any time.
func hangupFields(f *fields) *pbxhooksv1.Hangup {
	h := &pbxhooksv1.Hangup{
		Cause:           f.str("hangup_cause", maxStringBytes),
		Code:            f.str("hangup_code", maxStringBytes),
		DurationSeconds: f.integer("duration_seconds", 0, maxSeconds),
		BillingSeconds:  f.integer("billing_seconds", 0, maxSeconds),
		RingingSeconds:  f.integer("ringing_seconds", 0, maxSeconds),
	}
	answered, _ := f.boolean("answered")
	h.Answered = answered || h.BillingSeconds > 0
	return h
}

func mediaFields(f *fields) *pbxhooksv1.Media {
	m := &pbxhooksv1.Media{
		MediaId:     f.str("media_id", maxStringBytes),
		Filename:    f.str("filename", maxStringBytes),
		ContentType: f.str("content_type", maxStringBytes),
		SizeBytes:   f.integer("size_bytes", 0, maxMediaBytes),
		Sha256:      strings.ToLower(f.str("sha256", maxStringBytes)),
	}
	if m.Sha256 != "" {
		if _, err := hex.DecodeString(m.Sha256); err != nil || len(m.Sha256) != sha256.Size*2 {
			f.add("sha256", adapter.RulePattern, "must be 64 hexadecimal characters")
			m.Sha256 = ""
		}
	}
	return m
}
