// Package freeswitch parses FreeSWITCH channel events in the JSON form
// mod_event_socket emits after `event json CHANNEL_CREATE CHANNEL_ANSWER
// CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE`: one flat JSON object per event
// whose members are the event headers and channel variables, all strings.
package freeswitch

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
const source = "freeswitch"

// DefaultAccountVar is the event member carrying the account id: the
// channel variable account_id, as FreeSWITCH prefixes variables.
const DefaultAccountVar = "variable_account_id"

const (
	// maxIDBytes bounds channel uuids; FreeSWITCH's are 36 characters.
	maxIDBytes = 512
	// maxDisplayBytes clips caller names and numbers.
	maxDisplayBytes = 512
	// maxSeconds is ten years: a longer call is a PBX bug, not a call.
	maxSeconds = 10 * 365 * 24 * 60 * 60
)

// lifecycles maps the FreeSWITCH event names pbxhooks handles to Kazoo
// lifecycles. Every other Event-Name is ignored.
var lifecycles = map[string]string{
	"CHANNEL_CREATE":          event.LifecycleChannelCreate,
	"CHANNEL_ANSWER":          event.LifecycleChannelAnswer,
	"CHANNEL_BRIDGE":          event.LifecycleChannelBridge,
	"CHANNEL_HANGUP_COMPLETE": event.LifecycleChannelDestroy,
}

// Options configure the adapter.
type Options struct {
	// AccountVar is the event member naming the account
	// (INGEST_FREESWITCH_ACCOUNT_VAR); DefaultAccountVar when empty.
	AccountVar string
	// ChannelVars is the allow-list of channel variables, named without
	// FreeSWITCH's variable_ prefix, copied into custom_channel_vars
	// (INGEST_FREESWITCH_CHANNEL_VARS). Nothing is copied by default: a
	// channel carries credentials and internal addresses a customer's
	// endpoint must not receive unless the operator chose to send them.
	ChannelVars []string
}

// Adapter registers the FreeSWITCH format with the HTTP intake and the NATS
// consumer: subject pbx.freeswitch.<account_id or "any">, route
// POST /v1/accounts/{account_id}/events/freeswitch.
func Adapter(opts Options) adapter.Adapter {
	if opts.AccountVar == "" {
		opts.AccountVar = DefaultAccountVar
	}
	return adapter.Adapter{
		Name:    source,
		Subject: bus.SubjectPBXFreeSWITCHAll,
		Path:    "/v1/accounts/{account_id}/events/freeswitch",
		Parse: func(raw []byte, accountID string, receivedAt time.Time) (*pbxhooksv1.Event, error) {
			return parse(raw, accountID, receivedAt, opts)
		},
	}
}

// parse turns one FreeSWITCH JSON event into a canonical Event. Input that
// is not a JSON object of headers, lacks Event-Name, or is a handled event
// with missing or malformed headers is a *adapter.ValidationError; a
// well-formed event of another Event-Name is adapter.ErrIgnored.
func parse(raw []byte, routeAccount string, receivedAt time.Time, opts Options) (*pbxhooksv1.Event, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, adapter.Invalid(adapter.BodyField, adapter.RuleType, "the event must be a JSON object (mod_event_socket's `event json` form)")
	}
	h := &headers{}
	if err := json.Unmarshal(trimmed, &h.raw); err != nil {
		return nil, adapter.Invalid(adapter.BodyField, adapter.RuleFormat, "the event is not valid JSON: "+err.Error())
	}
	name := h.str("Event-Name")
	if name == "" && !h.problems.Has("Event-Name") {
		h.problems.Add("Event-Name", adapter.RuleRequired, "Event-Name is required")
	}
	if err := h.problems.OrNil(); err != nil {
		return nil, err
	}
	lifecycle, handled := lifecycles[name]
	if !handled {
		return nil, adapter.Ignored("FreeSWITCH event " + adapter.Clip(name, 64))
	}

	accountID, verr := adapter.ResolveAccount(routeAccount, h.str(opts.AccountVar), opts.AccountVar)
	if verr != nil {
		return nil, verr
	}
	h.problems.AccountID = accountID

	ev := &pbxhooksv1.Event{
		Id:             eventID(h, raw),
		AccountId:      accountID,
		Kind:           event.KindCall,
		Source:         source,
		Lifecycle:      lifecycle,
		ReceivedAt:     timestamppb.New(receivedAt.UTC()),
		OccurredAt:     timestamppb.New(occurredAt(h, receivedAt)),
		CallId:         h.id("Unique-ID", true),
		OtherLegCallId: h.id("Other-Leg-Unique-ID", false),
		Direction:      h.direction(),
		From:           adapter.Clip(h.str("Caller-Caller-ID-Number"), maxDisplayBytes),
		FromName:       adapter.Clip(h.str("Caller-Caller-ID-Name"), maxDisplayBytes),
		To:             adapter.Clip(h.str("Caller-Destination-Number"), maxDisplayBytes),
		ToName:         adapter.Clip(h.str("Caller-Callee-ID-Name"), maxDisplayBytes),
		Request:        adapter.Clip(request(h), maxDisplayBytes),
		ThreadId:       threadID(h),
	}
	ev.CustomChannelVars = channelVars(h, opts.ChannelVars)
	ev.CallType = event.CallTypeForDirection(ev.Direction)
	call := status.Call{Lifecycle: lifecycle, CallType: ev.CallType}
	if lifecycle == event.LifecycleChannelDestroy {
		ev.Hangup = hangup(h)
		call.Answered = ev.Hangup.GetAnswered()
		call.HangupCause = ev.Hangup.GetCause()
		call.Q850 = int(h.integer("variable_hangup_cause_q850", 0, 999))
	}
	ev.Status = status.Derive(call)
	if err := h.problems.OrNil(); err != nil {
		return nil, err
	}
	return ev, nil
}

// request is what the call asked for, Kazoo's Request (user@realm): the
// SIP request URI of a SIP leg, else the destination number at the
// channel's domain, else the destination number alone.
func request(h *headers) string {
	if uri := h.str("variable_sip_req_uri"); uri != "" {
		return uri
	}
	dest := h.str("Caller-Destination-Number")
	if domain := h.str("variable_domain_name"); dest != "" && domain != "" {
		return dest + "@" + domain
	}
	return dest
}

// threadID groups the legs of one call: a leg FreeSWITCH originated for a
// bridge carries originating_leg_uuid, the uuid of the leg that asked for
// it, on every event; any other leg starts its own thread. (call_uuid is
// no use: FreeSWITCH rewrites it on the originated leg during the call.)
func threadID(h *headers) string {
	if id := h.id("variable_originating_leg_uuid", false); id != "" {
		return id
	}
	return h.id("Unique-ID", false)
}

// channelVars copies the allow-listed channel variables present in the
// event, each clipped, and the connector's reconstruction mark
// (event.ReconstructedVar) whatever the allow-list; nil when none is.
func channelVars(h *headers, allowed []string) map[string]string {
	var out map[string]string
	if h.str("variable_"+event.ReconstructedVar) == "true" {
		out = map[string]string{event.ReconstructedVar: "true"}
	}
	for _, name := range allowed {
		v := h.str("variable_" + name)
		if v == "" {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(allowed))
		}
		out[name] = adapter.Clip(v, maxDisplayBytes)
	}
	return out
}

// eventID is FreeSWITCH's Event-UUID, unique per event and kept when the
// same event is sent again; without one, a digest of the raw event.
func eventID(h *headers, raw []byte) string {
	if id := h.str("Event-UUID"); adapter.IsPrintableID(id) {
		return id
	}
	return adapter.DigestID(source, string(raw))
}

// occurredAt reads Event-Date-Timestamp, microseconds since the epoch.
func occurredAt(h *headers, receivedAt time.Time) time.Time {
	const maxMicros = 1 << 62 / 1000 // keeps the conversion from overflowing
	us := h.integer("Event-Date-Timestamp", 1, maxMicros)
	if us == 0 {
		return receivedAt.UTC()
	}
	return time.UnixMicro(us).UTC()
}

// hangup reads CHANNEL_HANGUP_COMPLETE. At that point Answer-State is
// usually "hangup", so a leg counts as answered when FreeSWITCH recorded an
// answer time or billed any time, as well as when Answer-State says so.
func hangup(h *headers) *pbxhooksv1.Hangup {
	out := &pbxhooksv1.Hangup{
		Cause:           adapter.Clip(h.str("Hangup-Cause"), maxDisplayBytes),
		DurationSeconds: h.integer("variable_duration", 0, maxSeconds),
		BillingSeconds:  h.integer("variable_billsec", 0, maxSeconds),
	}
	if sip := h.str("variable_sip_term_status"); sip != "" {
		out.Code = "sip:" + adapter.Clip(sip, 16)
	}
	out.RingingSeconds = max(out.DurationSeconds-out.BillingSeconds, 0)
	answerEpoch := h.integer("variable_answer_epoch", 0, 1<<40)
	out.Answered = h.str("Answer-State") == "answered" || out.BillingSeconds > 0 || answerEpoch > 0
	return out
}

// headers decodes members of one FreeSWITCH event on demand, collecting
// every problem. Members that are absent or JSON null read as "".
type headers struct {
	raw      map[string]json.RawMessage
	problems adapter.ValidationError
}

func (h *headers) str(name string) string {
	v, ok := h.raw[name]
	if !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		if !h.problems.Has(name) {
			h.problems.Add(name, adapter.RuleType, name+" must be a string, as mod_event_socket sends every header")
		}
		return ""
	}
	return s
}

// id returns a channel uuid header.
func (h *headers) id(name string, required bool) string {
	s := h.str(name)
	switch {
	case s == "" && required && !h.problems.Has(name):
		h.problems.Add(name, adapter.RuleRequired, name+" is required for channel events")
	case len(s) > maxIDBytes:
		h.problems.Add(name, adapter.RuleMaxLength, name+" must be at most "+strconv.Itoa(maxIDBytes)+" bytes")
		return ""
	}
	return s
}

// integer returns a header holding a whole number within [lo, hi], 0 when
// absent or empty.
func (h *headers) integer(name string, lo, hi int64) int64 {
	s := h.str(name)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		h.problems.Add(name, adapter.RuleFormat, name+" must be a whole number between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10))
		return 0
	}
	return n
}

// direction is Call-Direction, which FreeSWITCH reports from its own point
// of view: inbound for a leg that reached it, outbound for one it placed.
func (h *headers) direction() string {
	switch d := h.str("Call-Direction"); d {
	case "", event.DirectionInbound, event.DirectionOutbound:
		return d
	default:
		h.problems.Add("Call-Direction", adapter.RuleEnum, "Call-Direction must be inbound or outbound")
		return ""
	}
}
