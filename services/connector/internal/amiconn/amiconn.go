// Package amiconn attaches to one Asterisk over the Manager Interface (AMI,
// port 5038) with `Events: call,cdr` and spools every event, raw and in
// order, for the forwarder; after each (re)connection it lists the live
// channels (CoreShowChannels) and makes up the events the gap lost.
package amiconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/ami"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/link"
)

// Timings and bounds.
const (
	// DefaultIdle is the longest silence accepted; a Ping action goes out
	// every third of it.
	DefaultIdle = 60 * time.Second
	// Action ids of the connector's own actions.
	actionLogin  = "pbxhooks-login"
	actionResync = "pbxhooks-resync"
	actionPing   = "pbxhooks-ping"
)

// Connector is one AMI attachment.
type Connector struct {
	*link.Link
	Addr, User, Password string
	StateDir             string
	Idle                 time.Duration

	mu    sync.Mutex
	table *link.Table[map[string]string]
}

// tracked are the headers kept of a live channel to end it after a gap.
var tracked = []string{"Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "Exten", "Context", "Uniqueid", "Linkedid"}

// Run attaches until ctx is cancelled, reconnecting with backoff.
func (c *Connector) Run(ctx context.Context) error {
	// An unreadable table only costs reconstruction.
	c.table, _ = link.LoadTable[map[string]string](c.StateDir, "ami-channels.json")
	c.Link.Run(ctx, "Asterisk AMI", c.session)
	return nil
}

func (c *Connector) idle() time.Duration {
	if c.Idle > 0 {
		return c.Idle
	}
	return DefaultIdle
}

// action formats one AMI action; values must be single lines.
func action(headers ...string) ([]byte, error) {
	var b strings.Builder
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.ContainsAny(headers[i+1], "\r\n") {
			return nil, fmt.Errorf("AMI %s must be one line", headers[i])
		}
		b.WriteString(headers[i] + ": " + headers[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}

// session: banner, Login, CoreShowChannels, then every message in order on
// this goroutine, so the channel list takes its exact place among the
// events.
func (c *Connector) session(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("AMI connect %s: %w", c.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	idle := c.idle()
	r := bufio.NewReaderSize(conn, 64<<10)
	var wmu sync.Mutex
	send := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(idle))
		_, err := conn.Write(b)
		return err
	}
	_ = conn.SetReadDeadline(time.Now().Add(idle))
	banner, err := r.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("AMI banner: %w", err)
	}
	if !strings.HasPrefix(string(banner), "Asterisk Call Manager/") {
		return fmt.Errorf("AMI banner %.64q is not Asterisk's", banner)
	}
	login, err := action("Action", "Login", "ActionID", actionLogin, "Username", c.User, "Secret", c.Password, "Events", "call,cdr")
	if err != nil {
		return err
	}
	if err := send(login); err != nil {
		return err
	}
	// The first response on a fresh connection answers the Login.
	for {
		m, err := ami.ReadMessage(r)
		if err != nil {
			return fmt.Errorf("AMI login: %w", err)
		}
		if !m.Has("Response") {
			continue
		}
		if !strings.EqualFold(m.Get("Response"), "Success") {
			return fmt.Errorf("%w: AMI login: %.128s", link.ErrRefused, m.Get("Message"))
		}
		break
	}
	list, _ := action("Action", "CoreShowChannels", "ActionID", actionResync)
	if err := send(list); err != nil {
		return err
	}
	c.SetConnected(true)
	c.Log.InfoContext(ctx, "attached to Asterisk AMI", telemetry.KeyPBXAddr, c.Addr)
	pingDone := make(chan struct{})
	defer close(pingDone)
	go func() {
		ping, _ := action("Action", "Ping", "ActionID", actionPing)
		t := time.NewTicker(idle / 3)
		defer t.Stop()
		for {
			select {
			case <-pingDone:
				return
			case <-t.C:
				if send(ping) != nil {
					return
				}
			}
		}
	}()
	var live []*ami.Message
	listing := true
	for {
		_ = conn.SetReadDeadline(time.Now().Add(idle))
		m, err := ami.ReadMessage(r)
		if errors.Is(err, io.EOF) {
			return errors.New("AMI connection closed")
		}
		if err != nil {
			return err
		}
		if m.Get("ActionID") == actionResync {
			switch m.Get("Event") {
			case "CoreShowChannel":
				if listing && len(live) < link.MaxChannels {
					live = append(live, m)
				}
			case "CoreShowChannelsComplete":
				if listing {
					listing = false
					if err := c.resync(ctx, live); err != nil {
						return err
					}
				}
			}
			continue
		}
		if !m.Has("Event") {
			continue // responses to pings and to nothing of ours
		}
		if err := c.onEvent(m); err != nil {
			return err
		}
	}
}

func (c *Connector) onEvent(m *ami.Message) error {
	if err := c.Append(m.Raw); err != nil {
		return err
	}
	id := m.Get("Uniqueid")
	if id == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, known := c.table.Channels[id]
	switch m.Get("Event") {
	case "Newchannel":
		if len(c.table.Channels) >= link.MaxChannels {
			return nil
		}
		ch = map[string]string{}
		c.table.Channels[id] = ch
	case "Hangup":
		if !known {
			return nil
		}
		delete(c.table.Channels, id)
		return c.table.Save()
	case "Newstate", "NewCallerid":
		if !known {
			return nil
		}
	default:
		return nil
	}
	for _, k := range tracked {
		if v := m.Get(k); v != "" {
			ch[k] = v
		}
	}
	for name, value := range m.Variables() {
		ch["ChanVariable:"+name] = value
	}
	return c.table.Save()
}

// resync compares CoreShowChannels' list with the table: a tracked
// channel no longer listed ended during the gap and gets a reconstructed
// Hangup; a listed channel the table lacks began during it and gets a
// reconstructed Newchannel. Both carry ChanVariable
// pbxhooks_reconstructed=true.
func (c *Connector) resync(ctx context.Context, live []*ami.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	listed := map[string]*ami.Message{}
	for _, m := range live {
		if id := m.Get("Uniqueid"); id != "" {
			listed[id] = m
		}
	}
	ended, began := 0, 0
	for id, ch := range c.table.Channels {
		if _, ok := listed[id]; ok {
			continue
		}
		if err := c.Append(reconstructed("Hangup", ch, "Cause", "0", "Cause-txt", "Unknown")); err != nil {
			return err
		}
		delete(c.table.Channels, id)
		c.Reconstructed(event.LifecycleChannelDestroy)
		ended++
	}
	for _, m := range live {
		id := m.Get("Uniqueid")
		if _, ok := c.table.Channels[id]; ok || id == "" {
			continue
		}
		ch := map[string]string{}
		for _, k := range tracked {
			if v := m.Get(k); v != "" {
				ch[k] = v
			}
		}
		if err := c.Append(reconstructed("Newchannel", ch)); err != nil {
			return err
		}
		if len(c.table.Channels) < link.MaxChannels {
			c.table.Channels[id] = ch
		}
		c.Reconstructed(event.LifecycleChannelCreate)
		began++
	}
	if ended+began > 0 {
		c.Log.InfoContext(ctx, "resynchronised with Asterisk AMI", "ended_in_gap", ended, "began_in_gap", began)
	}
	return c.table.Save()
}

// reconstructed is an AMI event named name for a tracked channel, extra
// headers appended, marked with ChanVariable pbxhooks_reconstructed=true.
func reconstructed(name string, ch map[string]string, extra ...string) []byte {
	var b strings.Builder
	line := func(k, v string) {
		b.WriteString(k + ": " + strings.NewReplacer("\r", "", "\n", "").Replace(v) + "\r\n")
	}
	line("Event", name)
	line("Privilege", "call,all")
	for _, k := range tracked {
		if v, ok := ch[k]; ok {
			line(k, v)
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		line(extra[i], extra[i+1])
	}
	for k, v := range ch {
		if name, ok := strings.CutPrefix(k, "ChanVariable:"); ok && name != event.ReconstructedVar {
			line("ChanVariable", name+"="+v)
		}
	}
	line("ChanVariable", event.ReconstructedVar+"=true")
	b.WriteString("\r\n")
	return []byte(b.String())
}
