// Package ariconn attaches to one Asterisk over the ARI WebSocket with
// subscribeAll=true (every channel, without a Stasis application) and
// spools every event, raw and in order, for the forwarder; after each
// (re)connection it reads the live channels (GET /ari/channels) and makes
// up the events the gap lost, so no call stays open in a customer's system.
package ariconn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/link"
)

// Bounds and timings.
const (
	// DefaultIdle is the longest silence accepted; a ping goes out every
	// third of it and Asterisk answers each.
	DefaultIdle = 60 * time.Second
	// maxFrameBytes bounds one ARI event (a channel snapshot with its
	// variables is a few KiB).
	maxFrameBytes = 1 << 20
	// maxChannelsBytes bounds the GET /ari/channels answer.
	maxChannelsBytes = 64 << 20
	// ariTime is ARI's timestamp layout.
	ariTime = "2006-01-02T15:04:05.000-0700"
)

// Connector is one Asterisk attachment.
type Connector struct {
	*link.Link
	// BaseURL is Asterisk's HTTP server, e.g. http://pbx:8088.
	BaseURL        string
	User, Password string
	// App is the ARI application name the WebSocket registers; with
	// subscribeAll no channel needs to enter it.
	App string
	// StateDir holds the channel table.
	StateDir string
	Idle     time.Duration
	Now      func() time.Time
	// HTTP is the client of GET /ari/channels (http.DefaultClient when
	// nil).
	HTTP *http.Client

	mu         sync.Mutex
	table      *link.Table[*channel]
	asteriskID string
}

// channel is what the connector remembers of a live channel: its last
// snapshot (state, caller, variables) and the Asterisk it belongs to.
type channel struct {
	Snapshot   json.RawMessage `json:"snapshot"`
	AsteriskID string          `json:"asterisk_id"`
}

// Run attaches until ctx is cancelled, reconnecting with backoff.
func (c *Connector) Run(ctx context.Context) error {
	// An unreadable table only costs reconstruction.
	c.table, _ = link.LoadTable[*channel](c.StateDir, "ari-channels.json")
	c.Link.Run(ctx, "Asterisk", c.session)
	return nil
}

func (c *Connector) idle() time.Duration {
	if c.Idle > 0 {
		return c.Idle
	}
	return DefaultIdle
}

func (c *Connector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// session is one WebSocket: connect (the subscription starts then), read
// the live channels and resynchronise, then read the events buffered
// since and all that follow, one at a time.
func (c *Connector) session(ctx context.Context) error {
	base, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("CONNECTOR_ADDR: %w", err)
	}
	ws := *base
	ws.Scheme = map[string]string{"https": "wss"}[base.Scheme]
	if ws.Scheme == "" {
		ws.Scheme = "ws"
	}
	ws.Path = strings.TrimSuffix(base.Path, "/") + "/ari/events"
	ws.RawQuery = url.Values{"app": {c.App}, "subscribeAll": {"true"}}.Encode()
	header := http.Header{}
	header.Set("Authorization", basicAuth(c.User, c.Password))
	dialer := websocket.Dialer{HandshakeTimeout: c.idle()}
	conn, resp, err := dialer.DialContext(ctx, ws.String(), header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return fmt.Errorf("%w: ARI answered %s", link.ErrRefused, resp.Status)
		}
		return fmt.Errorf("ARI websocket %s: %w", ws.Redacted(), err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	conn.SetReadLimit(maxFrameBytes)
	if err := c.resync(ctx, base); err != nil {
		return err
	}
	c.SetConnected(true)
	c.Log.InfoContext(ctx, "attached to Asterisk", telemetry.KeyPBXAddr, ws.Redacted())

	idle := c.idle()
	_ = conn.SetReadDeadline(time.Now().Add(idle))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(idle)) })
	pingDone := make(chan struct{})
	defer close(pingDone)
	go func() {
		t := time.NewTicker(idle / 3)
		defer t.Stop()
		for {
			select {
			case <-pingDone:
				return
			case <-t.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(idle/3)) != nil {
					return
				}
			}
		}
	}()
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("ARI websocket: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		if kind != websocket.TextMessage {
			continue
		}
		if err := c.onEvent(data); err != nil {
			return err
		}
	}
}

// ariEvent is the little the connector reads of an event: enough to keep
// the channel table. Parsing proper is ingest's.
type ariEvent struct {
	Type       string          `json:"type"`
	AsteriskID string          `json:"asterisk_id"`
	Channel    json.RawMessage `json:"channel"`
}

type channelID struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

func (c *Connector) onEvent(data []byte) error {
	if err := c.Append(data); err != nil {
		return err
	}
	var ev ariEvent
	if json.Unmarshal(data, &ev) != nil || len(ev.Channel) == 0 {
		return nil
	}
	var id channelID
	if json.Unmarshal(ev.Channel, &id) != nil || id.ID == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.AsteriskID != "" {
		c.asteriskID = ev.AsteriskID
	}
	_, known := c.table.Channels[id.ID]
	switch {
	case ev.Type == "ChannelDestroyed":
		if !known {
			return nil
		}
		delete(c.table.Channels, id.ID)
	case known || len(c.table.Channels) < link.MaxChannels:
		c.table.Channels[id.ID] = &channel{Snapshot: append(json.RawMessage(nil), ev.Channel...), AsteriskID: ev.AsteriskID}
	default:
		return nil
	}
	return c.table.Save()
}

// resync reads the live channels: a channel the table holds that is gone
// ended during the gap and gets a reconstructed ChannelDestroyed (its last
// snapshot, cause unknown); a live channel the table lacks began during
// the gap and gets a reconstructed ChannelCreated. Both carry the channel
// variable event.ReconstructedVar. Events emitted between the WebSocket's
// start and this read arrive after and repeat some of it; ingest stores
// one channel_create and one channel_destroy per channel.
func (c *Connector) resync(ctx context.Context, base *url.URL) error {
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/ari/channels"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", basicAuth(c.User, c.Password))
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET /ari/channels: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /ari/channels: %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxChannelsBytes+1))
	if err != nil || len(body) > maxChannelsBytes {
		return fmt.Errorf("GET /ari/channels: unreadable or larger than %d bytes: %v", maxChannelsBytes, err)
	}
	var live []json.RawMessage
	if err := json.Unmarshal(body, &live); err != nil {
		return fmt.Errorf("GET /ari/channels: %w", err)
	}
	liveByID := map[string]json.RawMessage{}
	var order []string
	for _, raw := range live {
		var id channelID
		if json.Unmarshal(raw, &id) == nil && id.ID != "" {
			liveByID[id.ID] = raw
			order = append(order, id.ID)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().UTC().Format(ariTime)
	for id, ch := range c.table.Channels {
		if _, ok := liveByID[id]; ok {
			continue
		}
		body, err := reconstructed("ChannelDestroyed", now, ch.Snapshot, ch.AsteriskID, map[string]any{"cause": 0, "cause_txt": ""})
		if err != nil {
			delete(c.table.Channels, id)
			continue
		}
		if err := c.Append(body); err != nil {
			return err
		}
		delete(c.table.Channels, id)
		c.Reconstructed(event.LifecycleChannelDestroy)
	}
	for _, id := range order {
		if _, ok := c.table.Channels[id]; ok {
			continue
		}
		var created struct {
			CreationTime string `json:"creationtime"`
		}
		_ = json.Unmarshal(liveByID[id], &created)
		body, err := reconstructed("ChannelCreated", created.CreationTime, liveByID[id], c.asteriskID, nil)
		if err != nil {
			continue
		}
		if err := c.Append(body); err != nil {
			return err
		}
		if len(c.table.Channels) < link.MaxChannels {
			c.table.Channels[id] = &channel{Snapshot: liveByID[id], AsteriskID: c.asteriskID}
		}
		c.Reconstructed(event.LifecycleChannelCreate)
	}
	return c.table.Save()
}

// reconstructed is an ARI event of type typ for a channel snapshot, marked
// with event.ReconstructedVar among its channel variables.
func reconstructed(typ, timestamp string, snapshot json.RawMessage, asteriskID string, extra map[string]any) ([]byte, error) {
	var ch map[string]any
	if err := json.Unmarshal(snapshot, &ch); err != nil {
		return nil, err
	}
	vars, _ := ch["channelvars"].(map[string]any)
	if vars == nil {
		vars = map[string]any{}
	}
	vars[event.ReconstructedVar] = "true"
	ch["channelvars"] = vars
	ev := map[string]any{"type": typ, "timestamp": timestamp, "channel": ch}
	if asteriskID != "" {
		ev["asterisk_id"] = asteriskID
	}
	for k, v := range extra {
		ev[k] = v
	}
	return json.Marshal(ev)
}

func basicAuth(user, password string) string {
	req := http.Request{Header: http.Header{}}
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}
