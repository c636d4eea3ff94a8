package amiconn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/ami"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/linktest"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const subject = "pbx.ami.acct1"

// capture splits an AMI capture into Asterisk's banner line and the
// messages that follow, each with its bytes as captured.
func capture(t *testing.T, name string) ([]byte, []*ami.Message) {
	t.Helper()
	b := testenv.SharedFixture(t, "pbx-captures", "asterisk", name)
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	banner := append(bytes.TrimPrefix(first, []byte("<<BANNER>> ")), '\n')
	r := bufio.NewReader(bytes.NewReader(rest))
	var msgs []*ami.Message
	for {
		m, err := ami.ReadMessage(r)
		if errors.Is(err, io.EOF) {
			return banner, msgs
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
}

// session of the fake Asterisk: the captured messages it sends after the
// login (the first is the captured login response), whether it then
// closes, and the channels CoreShowChannels lists.
type session struct {
	msgs  []*ami.Message
	close bool
	live  []map[string]string
}

type fakeAMI struct {
	t        *testing.T
	ln       net.Listener
	banner   []byte
	mu       sync.Mutex
	sessions []session
	actions  []string
}

func startFake(t *testing.T, banner []byte, sessions ...session) *fakeAMI {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAMI{t: t, ln: ln, banner: banner, sessions: sessions}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			s := session{}
			if len(f.sessions) > 0 {
				s, f.sessions = f.sessions[0], f.sessions[1:]
			}
			f.mu.Unlock()
			go f.serve(c, s)
		}
	}()
	return f
}

func (f *fakeAMI) Actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

func (f *fakeAMI) serve(c net.Conn, s session) {
	defer c.Close()
	var wmu sync.Mutex
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write(b)
		return err
	}
	if write(f.banner) != nil {
		return
	}
	r := bufio.NewReader(c)
	login, err := ami.ReadMessage(r)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.actions = append(f.actions, login.Get("Action"))
	f.mu.Unlock()
	if login.Get("Username") != "pbxhooks" || login.Get("Secret") != "secret" || login.Get("Events") != "call,cdr" {
		_ = write([]byte("Response: Error\r\nActionID: " + login.Get("ActionID") + "\r\nMessage: Authentication failed\r\n\r\n"))
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := ami.ReadMessage(r)
			if err != nil {
				return
			}
			f.mu.Lock()
			f.actions = append(f.actions, m.Get("Action"))
			f.mu.Unlock()
			if m.Get("Action") == "CoreShowChannels" {
				id := m.Get("ActionID")
				var b strings.Builder
				b.WriteString("Response: Success\r\nActionID: " + id + "\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n")
				for _, ch := range s.live {
					b.WriteString("Event: CoreShowChannel\r\nActionID: " + id + "\r\n")
					for _, k := range tracked {
						if v, ok := ch[k]; ok {
							b.WriteString(k + ": " + v + "\r\n")
						}
					}
					b.WriteString("\r\n")
				}
				fmt.Fprintf(&b, "Event: CoreShowChannelsComplete\r\nActionID: %s\r\nEventList: Complete\r\nListItems: %d\r\n\r\n", id, len(s.live))
				if write([]byte(b.String())) != nil {
					return
				}
			}
		}
	}()
	var stream []byte
	for _, m := range s.msgs {
		stream = append(stream, m.Raw...)
	}
	if write(stream) != nil || s.close {
		return
	}
	<-done
}

func start(t *testing.T, natsURL, addr, password string) (*Connector, *spool.Spool) {
	t.Helper()
	var c *Connector
	r := linktest.Start(t, natsURL, subject, 1<<24, func(r *linktest.Rig) linktest.Connector {
		c = &Connector{Link: r.Link, Addr: addr, User: "pbxhooks", Password: password, StateDir: r.Dir, Idle: 3 * time.Second}
		return c
	})
	return c, r.Spool
}

func stored(t *testing.T, js jetstream.JetStream) [][]byte {
	t.Helper()
	return linktest.Stored(t, js, subject)
}

// events are the captured messages that are events, in order.
func events(msgs []*ami.Message) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		if m.Has("Event") {
			out = append(out, m.Raw)
		}
	}
	return out
}

func TestForwardsTheCaptureRawAndInOrder(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	banner, msgs := capture(t, "ami_disconnect.txt")
	fake := startFake(t, banner, session{msgs: msgs})
	start(t, srv.URL, fake.ln.Addr().String(), "secret")
	want := events(msgs)
	testenv.Eventually(t, 20*time.Second, "every event", func() bool { return len(stored(t, js)) >= len(want) })
	got := stored(t, js)
	if len(got) != len(want) {
		t.Fatalf("%d stored, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d differs:\n got %.200q\nwant %.200q", i, got[i], want[i])
		}
	}
	if a := fake.Actions(); len(a) < 2 || a[0] != "Login" || a[1] != "CoreShowChannels" {
		t.Errorf("actions %q, want Login then CoreShowChannels", a)
	}
}

func TestDisconnectMidCallResynchronises(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	banner, msgs := capture(t, "ami_linkedid.txt")
	// Up to the fourth Newchannel, then the connection drops; when it is
	// back the busy call is over and nothing is listed.
	cut, newChannels := 0, 0
	for i, m := range msgs {
		if m.Get("Event") == "Newchannel" {
			newChannels++
		}
		if newChannels == 4 {
			cut = i + 1
			break
		}
	}
	fake := startFake(t, banner, session{msgs: msgs[:cut], close: true}, session{msgs: msgs[:1]})
	start(t, srv.URL, fake.ln.Addr().String(), "secret")
	before := events(msgs[:cut])
	testenv.Eventually(t, 20*time.Second, "the reconstructed hangups", func() bool { return len(stored(t, js)) >= len(before)+4 })
	got := stored(t, js)
	for i := range before {
		if !bytes.Equal(got[i], before[i]) {
			t.Fatalf("event %d differs", i)
		}
	}
	ended := map[string]bool{}
	for _, raw := range got[len(before):] {
		m, err := ami.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if m.Get("Event") != "Hangup" || m.Variables()[event.ReconstructedVar] != "true" || m.Get("Linkedid") != "1796049121.28" {
			t.Errorf("after the gap: %q", raw)
		}
		ended[m.Get("Uniqueid")] = true
	}
	if len(ended) != 4 || len(got) != len(before)+4 {
		t.Errorf("ended %v among %d events", ended, len(got))
	}
}

func TestReconnectMidCallReconstructsTheStart(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	banner, msgs := capture(t, "ami_disconnect.txt")
	live := []map[string]string{{"Channel": "Local/100@internal-0000000c;2", "ChannelState": "6", "ChannelStateDesc": "Up",
		"CallerIDNum": "5551000", "CallerIDName": "Alice", "Exten": "100", "Uniqueid": "1796049093.25", "Linkedid": "1796049093.24"}}
	fake := startFake(t, banner, session{msgs: msgs[:1], live: live})
	start(t, srv.URL, fake.ln.Addr().String(), "secret")
	testenv.Eventually(t, 20*time.Second, "the reconstructed start", func() bool { return len(stored(t, js)) >= 1 })
	m, err := ami.Parse(stored(t, js)[0])
	if err != nil {
		t.Fatal(err)
	}
	if m.Get("Event") != "Newchannel" || m.Get("Uniqueid") != "1796049093.25" || m.Get("ChannelState") != "6" || m.Variables()[event.ReconstructedVar] != "true" {
		t.Errorf("reconstructed start %q", m.Raw)
	}
}

func TestWrongPasswordIsNotReady(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	banner, msgs := capture(t, "ami_linkedid.txt")
	fake := startFake(t, banner, session{msgs: msgs})
	c, _ := start(t, srv.URL, fake.ln.Addr().String(), "wrong")
	testenv.Eventually(t, 20*time.Second, "the login attempt", func() bool { return len(fake.Actions()) >= 1 })
	time.Sleep(100 * time.Millisecond)
	if err := c.Ready(t.Context()); err == nil {
		t.Error("ready after a refused login")
	}
	if n := len(stored(t, js)); n != 0 {
		t.Errorf("%d events stored without a session", n)
	}
}
