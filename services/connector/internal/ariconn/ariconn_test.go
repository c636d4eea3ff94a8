package ariconn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/linktest"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const subject = "pbx.ari.acct1"

// frames are the WebSocket text frames of a captured ARI stream, one a
// line, byte for byte; "###" lines are the capture's notes.
func frames(t *testing.T, name string) [][]byte {
	t.Helper()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(testenv.SharedFixture(t, "pbx-captures", "asterisk", name)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 || bytes.HasPrefix(sc.Bytes(), []byte("###")) {
			continue
		}
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// session is one WebSocket connection of the fake Asterisk: the frames it
// sends, whether it closes after them, and what GET /ari/channels answers
// when the connector asks at its start.
type session struct {
	frames   [][]byte
	close    bool
	channels []json.RawMessage
}

// fakeARI is Asterisk's HTTP server as the connector sees it: the events
// WebSocket (basic auth, app and subscribeAll checked) and GET
// /ari/channels.
type fakeARI struct {
	t        *testing.T
	mu       sync.Mutex
	sessions []session
	current  session
	accepted int
}

func (f *fakeARI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "pbxhooks" || pass != "secret" {
		http.Error(w, `{"message": "Authentication required"}`, http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/ari/events":
		if r.URL.Query().Get("subscribeAll") != "true" || r.URL.Query().Get("app") != "pbxhooks" {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		s := session{}
		if len(f.sessions) > 0 {
			s, f.sessions = f.sessions[0], f.sessions[1:]
		}
		f.current = s
		f.accepted++
		f.mu.Unlock()
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		go func() {
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		}()
		for _, fr := range s.frames {
			if conn.WriteMessage(websocket.TextMessage, fr) != nil {
				return
			}
		}
		if s.close {
			return
		}
		<-r.Context().Done()
	case "/ari/channels":
		f.mu.Lock()
		chans := f.current.channels
		f.mu.Unlock()
		if chans == nil {
			chans = []json.RawMessage{}
		}
		_ = json.NewEncoder(w).Encode(chans)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeARI) Accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepted
}

type running struct {
	conn *Connector
	sp   *spool.Spool
}

func start(t *testing.T, natsURL, baseURL, password string) *running {
	t.Helper()
	r := &running{}
	rig := linktest.Start(t, natsURL, subject, 1<<24, func(rig *linktest.Rig) linktest.Connector {
		r.conn = &Connector{
			Link:    rig.Link,
			BaseURL: baseURL, User: "pbxhooks", Password: password, App: "pbxhooks", StateDir: rig.Dir,
			Idle: 3 * time.Second,
			Now:  func() time.Time { return time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC) },
		}
		return r.conn
	})
	r.sp = rig.Spool
	return r
}

func stored(t *testing.T, js jetstream.JetStream) [][]byte {
	t.Helper()
	return linktest.Stored(t, js, subject)
}

type parsed struct {
	Type    string `json:"type"`
	Channel struct {
		ID          string            `json:"id"`
		State       string            `json:"state"`
		ChannelVars map[string]string `json:"channelvars"`
	} `json:"channel"`
}

func parse(t *testing.T, b []byte) parsed {
	t.Helper()
	var p parsed
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestForwardsTheCaptureRawAndInOrder(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	want := frames(t, "ari_linkedid.jsonl")
	fake := &fakeARI{t: t, sessions: []session{{frames: want}}}
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	start(t, srv.URL, ts.URL, "secret")
	testenv.Eventually(t, 20*time.Second, "every frame", func() bool { return len(stored(t, js)) >= len(want) })
	got := stored(t, js)
	if len(got) != len(want) {
		t.Fatalf("%d stored, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs:\n got %.200s\nwant %.200s", i, got[i], want[i])
		}
	}
}

func TestDisconnectMidCallResynchronises(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	all := frames(t, "ari_linkedid.jsonl")
	// The busy call until its four channels exist, then the WebSocket
	// drops; when it is back, the call is over (no live channel).
	const cut = 21
	if parse(t, all[cut-1]).Channel.ID != "1796049121.31" {
		t.Fatalf("frame %d: %s", cut, all[cut-1])
	}
	fake := &fakeARI{t: t, sessions: []session{{frames: all[:cut], close: true}, {}}}
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	start(t, srv.URL, ts.URL, "secret")
	testenv.Eventually(t, 20*time.Second, "the reconstructed ends", func() bool { return len(stored(t, js)) >= cut+4 })
	got := stored(t, js)
	for i := range cut {
		if !bytes.Equal(got[i], all[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	ended := map[string]string{}
	for _, b := range got[cut:] {
		p := parse(t, b)
		if p.Type != "ChannelDestroyed" || p.Channel.ChannelVars[event.ReconstructedVar] != "true" || p.Channel.ChannelVars["CHANNEL(linkedid)"] != "1796049121.28" {
			t.Errorf("after the gap: %s", b)
		}
		ended[p.Channel.ID] = p.Channel.State
	}
	if len(got) != cut+4 || len(ended) != 4 || ended["1796049121.31"] != "Ring" || ended["1796049121.28"] != "Down" {
		t.Errorf("ended %v among %d events, want the 4 channels once, with their last state", ended, len(got))
	}
}

func TestReconnectMidCallReconstructsTheStart(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	tail := frames(t, "ari_disconnect.jsonl")
	// The capture's WebSocket came back 3 s into the call: the live
	// channels then are the ones its tail ends, as they first appear.
	var live []json.RawMessage
	seen := map[string]bool{}
	for _, fr := range tail {
		var ev struct {
			Channel json.RawMessage `json:"channel"`
		}
		_ = json.Unmarshal(fr, &ev)
		if len(ev.Channel) == 0 {
			continue
		}
		var id channelID
		_ = json.Unmarshal(ev.Channel, &id)
		if !seen[id.ID] {
			seen[id.ID] = true
			live = append(live, ev.Channel)
		}
	}
	if len(live) != 4 {
		t.Fatalf("%d channels in the tail, want 4", len(live))
	}
	fake := &fakeARI{t: t, sessions: []session{{frames: tail, channels: live}}}
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	start(t, srv.URL, ts.URL, "secret")
	testenv.Eventually(t, 20*time.Second, "the starts and the tail", func() bool { return len(stored(t, js)) >= 4+len(tail) })
	got := stored(t, js)
	for i := range 4 {
		p := parse(t, got[i])
		if p.Type != "ChannelCreated" || p.Channel.ChannelVars[event.ReconstructedVar] != "true" || !seen[p.Channel.ID] {
			t.Errorf("event %d: %s", i, got[i])
		}
	}
	for i, fr := range tail {
		if !bytes.Equal(got[4+i], fr) {
			t.Fatalf("tail frame %d differs", i)
		}
	}
}

func TestWrongPasswordIsNotReady(t *testing.T) {
	t.Parallel()
	srv, _, js := testenv.JetStream(t)
	fake := &fakeARI{t: t}
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	r := start(t, srv.URL, ts.URL, "wrong")
	time.Sleep(300 * time.Millisecond)
	if err := r.conn.Ready(t.Context()); err == nil {
		t.Error("ready with a refused password")
	}
	if fake.Accepted() != 0 || len(stored(t, js)) != 0 {
		t.Errorf("accepted %d sessions, stored %d events", fake.Accepted(), len(stored(t, js)))
	}
}
