// Package fsconn attaches to one FreeSWITCH over its event socket and
// spools every call event, raw and in order, for the forwarder; after each
// (re)connection it reads the live channels and makes up the events the
// gap lost, so no call stays open in a customer's system.
package fsconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/esl"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/link"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/media"
)

// Events is the subscription: the call lifecycle, recordings, voicemail
// and the heartbeats that prove the socket alive.
var Events = []string{
	"CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
	"CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
	"CHANNEL_DESTROY", "RECORD_START", "RECORD_STOP", "HEARTBEAT", "BACKGROUND_JOB", "CUSTOM", "vm::maintenance",
}

// DefaultIdle is three FreeSWITCH heartbeat periods (20 s each).
const DefaultIdle = 60 * time.Second

// Connector is one FreeSWITCH attachment.
type Connector struct {
	*link.Link
	Addr, Password string
	// StateDir holds the channel table (the spool's directory will do).
	StateDir string
	// Idle overrides DefaultIdle.
	Idle time.Duration
	// Now is the clock of reconstructed events (time.Now when nil).
	Now func() time.Time
	// Media, when set, uploads the recordings (RECORD_STOP) and voicemail
	// messages (vm::maintenance leave-message) the events announce.
	Media *media.Uploader

	mu    sync.Mutex
	table *link.Table[*channel]
}

// Run attaches until ctx is cancelled, reconnecting with backoff.
func (c *Connector) Run(ctx context.Context) error {
	t, err := link.LoadTable[*channel](c.StateDir, "channels.json")
	if err != nil {
		return err
	}
	c.table = t
	c.Link.Run(ctx, "FreeSWITCH", c.session)
	return nil
}

func (c *Connector) idle() time.Duration {
	if c.Idle > 0 {
		return c.Idle
	}
	return DefaultIdle
}

// session is one connection: authenticate, subscribe, ask for the live
// channels, then read until the socket ends. Every frame is handled on the
// reading goroutine, so the channel snapshot takes its exact place among
// the events.
func (c *Connector) session(ctx context.Context) error {
	conn, err := esl.Dial(ctx, c.Addr, c.Password, c.idle())
	if errors.Is(err, esl.ErrAuth) {
		return fmt.Errorf("%w: %w", link.ErrRefused, err)
	}
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	reply, err := conn.Command("event json " + strings.Join(Events, " "))
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("event subscription refused: %.128s", reply)
	}
	if err := conn.Send("api show channels as json"); err != nil {
		return err
	}
	c.SetConnected(true)
	c.Log.InfoContext(ctx, "attached to FreeSWITCH", telemetry.KeyPBXAddr, c.Addr)
	snapshotPending := true
	return conn.Run(func(f *esl.Frame) error {
		switch f.ContentType() {
		case esl.TypeEventJSON:
			return c.onEvent(f.Body)
		case esl.TypeAPIResponse:
			if snapshotPending {
				snapshotPending = false
				return c.resync(ctx, f.Body)
			}
		}
		return nil
	})
}

// fsEvent is the little the connector reads of an event: enough to keep
// the channel table and find media files. Parsing proper is ingest's.
type fsEvent struct {
	Name     string `json:"Event-Name"`
	UUID     string `json:"Unique-ID"`
	Subclass string `json:"Event-Subclass"`
	// RECORD_STOP.
	RecordPath string `json:"Record-File-Path"`
	App        string `json:"variable_current_application"`
	From       string `json:"Caller-Caller-ID-Number"`
	To         string `json:"Caller-Destination-Number"`
	// vm::maintenance.
	VMAction string `json:"VM-Action"`
	VMPath   string `json:"VM-File-Path"`
	VMFrom   string `json:"VM-Caller-ID-Number"`
	VMUser   string `json:"VM-User"`
}

// onEvent spools one event and keeps the channel table.
func (c *Connector) onEvent(body []byte) error {
	var ev fsEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		// Not ours to judge: ingest dead-letters what it cannot parse.
		return c.Append(body)
	}
	switch ev.Name {
	case "HEARTBEAT", "BACKGROUND_JOB":
		// Liveness only (the read deadline); nothing for ingest.
		return nil
	}
	if err := c.Append(body); err != nil {
		return err
	}
	c.media(ev)
	return c.track(ev, body)
}

// media files an upload for a finished recording or a left voicemail
// message. A recording the voicemail application made is the message
// itself: its vm::maintenance event uploads it as a voicemail, once it is
// kept (a discarded message has none).
func (c *Connector) media(ev fsEvent) {
	if c.Media == nil {
		return
	}
	var job media.Job
	switch {
	case ev.Name == "RECORD_STOP" && ev.RecordPath != "" && ev.App != "voicemail":
		job = media.Job{Type: "call_recording", CallID: ev.UUID, From: ev.From, To: ev.To, Path: ev.RecordPath}
	case ev.Name == "CUSTOM" && ev.Subclass == "vm::maintenance" && ev.VMAction == "leave-message" && ev.VMPath != "":
		job = media.Job{Type: "voicemail", CallID: ev.UUID, From: ev.VMFrom, To: ev.VMUser, Path: ev.VMPath}
	default:
		return
	}
	if job.CallID == "" {
		job.CallID = "unknown"
	}
	sum := sha256.Sum256([]byte(job.Type + "\x00" + job.CallID + "\x00" + job.Path))
	job.ID = "fs-" + hex.EncodeToString(sum[:16])
	if err := c.Media.Enqueue(job); err != nil {
		c.Log.Error("media upload not queued", telemetry.KeyCallID, job.CallID, "path", job.Path, telemetry.KeyError, err)
	}
}

func (c *Connector) track(ev fsEvent, body []byte) error {
	if ev.UUID == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Name {
	case "CHANNEL_CREATE":
		if len(c.table.Channels) >= link.MaxChannels {
			return nil
		}
		c.table.Channels[ev.UUID] = &channel{Create: append(json.RawMessage(nil), body...)}
	case "CHANNEL_ANSWER":
		ch, ok := c.table.Channels[ev.UUID]
		if !ok || ch.Answered {
			return nil
		}
		ch.Answered = true
	case "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY":
		if _, ok := c.table.Channels[ev.UUID]; !ok {
			return nil
		}
		delete(c.table.Channels, ev.UUID)
	default:
		return nil
	}
	return c.table.Save()
}

// liveChannel is one row of `show channels as json`.
type liveChannel struct {
	UUID         string `json:"uuid"`
	Direction    string `json:"direction"`
	CreatedEpoch string `json:"created_epoch"`
	CIDName      string `json:"cid_name"`
	CIDNum       string `json:"cid_num"`
	Dest         string `json:"dest"`
	CallState    string `json:"callstate"`
}

// resync compares the live channels with the table: a channel the table
// holds that is no longer live ended during the gap and gets a
// reconstructed CHANNEL_HANGUP_COMPLETE; a live channel the table lacks
// began during the gap and gets a reconstructed CHANNEL_CREATE. Both carry
// the channel variable event.ReconstructedVar.
func (c *Connector) resync(ctx context.Context, body []byte) error {
	var snap struct {
		Rows []liveChannel `json:"rows"`
	}
	if err := json.Unmarshal(body, &snap); err != nil {
		// FreeSWITCH answers "-ERR ..." as text when it cannot list.
		c.Log.ErrorContext(ctx, "cannot read the live channels; no resynchronisation", "reply", truncate(string(body), 128))
		return nil
	}
	live := make(map[string]liveChannel, len(snap.Rows))
	for _, row := range snap.Rows {
		if row.UUID != "" {
			live[row.UUID] = row
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var ended, began []string
	for id := range c.table.Channels {
		if _, ok := live[id]; !ok {
			ended = append(ended, id)
		}
	}
	for _, row := range snap.Rows {
		if _, ok := c.table.Channels[row.UUID]; !ok && row.UUID != "" {
			began = append(began, row.UUID)
		}
	}
	for _, id := range ended {
		body, err := reconstructedEnd(id, c.table.Channels[id], now)
		if err != nil {
			c.Log.ErrorContext(ctx, "cannot reconstruct a channel's end", telemetry.KeyCallID, id, telemetry.KeyError, err)
			delete(c.table.Channels, id)
			continue
		}
		if err := c.Append(body); err != nil {
			return err
		}
		delete(c.table.Channels, id)
		c.Reconstructed(event.LifecycleChannelDestroy)
	}
	for _, id := range began {
		row := live[id]
		body := reconstructedStart(row)
		if err := c.Append(body); err != nil {
			return err
		}
		if len(c.table.Channels) < link.MaxChannels {
			c.table.Channels[id] = &channel{Create: body, Answered: row.CallState == "ACTIVE"}
		}
		c.Reconstructed(event.LifecycleChannelCreate)
	}
	if len(ended) > 0 || len(began) > 0 {
		c.Log.InfoContext(ctx, "resynchronised with FreeSWITCH", "ended_in_gap", len(ended), "began_in_gap", len(began))
	}
	return c.table.Save()
}

func (c *Connector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// reconstructedEnd is a CHANNEL_HANGUP_COMPLETE made from the channel's
// CHANNEL_CREATE: same headers (account, parties, direction), a fixed
// Event-UUID per channel so a repeated resynchronisation is stored once,
// and the answer state the connector saw. The cause is unknown.
func reconstructedEnd(id string, ch *channel, now time.Time) ([]byte, error) {
	var headers map[string]any
	if err := json.Unmarshal(ch.Create, &headers); err != nil {
		return nil, err
	}
	headers["Event-Name"] = "CHANNEL_HANGUP_COMPLETE"
	headers["Event-UUID"] = "pbxhooks-reconstructed-destroy-" + id
	headers["Event-Date-Timestamp"] = strconv.FormatInt(now.UnixMicro(), 10)
	headers["Channel-Call-State"] = "HANGUP"
	headers["Answer-State"] = "hangup"
	if ch.Answered {
		headers["Answer-State"] = "answered"
	}
	headers["Hangup-Cause"] = ""
	headers["variable_"+event.ReconstructedVar] = "true"
	return json.Marshal(headers)
}

// reconstructedStart is a CHANNEL_CREATE made from a live channel's row.
func reconstructedStart(row liveChannel) []byte {
	created, _ := strconv.ParseInt(row.CreatedEpoch, 10, 64)
	headers := map[string]string{
		"Event-Name":                         "CHANNEL_CREATE",
		"Event-UUID":                         "pbxhooks-reconstructed-create-" + row.UUID,
		"Unique-ID":                          row.UUID,
		"Call-Direction":                     row.Direction,
		"Caller-Caller-ID-Number":            row.CIDNum,
		"Caller-Caller-ID-Name":              row.CIDName,
		"Caller-Destination-Number":          row.Dest,
		"Channel-Call-State":                 row.CallState,
		"variable_" + event.ReconstructedVar: "true",
	}
	if created > 0 {
		headers["Event-Date-Timestamp"] = strconv.FormatInt(created*1_000_000, 10)
	}
	b, _ := json.Marshal(headers)
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
