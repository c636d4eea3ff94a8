package fsconn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/esl"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/esltest"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/forward"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/link"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/linktest"
	"github.com/pbxhooks/pbxhooks/services/connector/internal/spool"
	"github.com/pbxhooks/pbxhooks/testkit/natsembed"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const subject = "pbx.freeswitch.acct1"

var subscription = "event json " + joinEvents()

func joinEvents() string {
	s := ""
	for i, e := range Events {
		if i > 0 {
			s += " "
		}
		s += e
	}
	return s
}

// ours says which captured commands the connector itself sends.
func ours(cmd string) bool {
	return cmd == "auth ClueCon" || cmd == subscription || cmd == "api show channels as json"
}

func sessions(t *testing.T, name string) []esltest.Session {
	t.Helper()
	return esltest.ParseCapture(testenv.SharedFixture(t, "pbx-captures", "freeswitch", name))
}

// replyTo is the captured bytes FreeSWITCH answered cmd with.
func replyTo(t *testing.T, ss []esltest.Session, cmd string) []byte {
	t.Helper()
	for _, sess := range ss {
		for i, st := range sess {
			if st.Expect == cmd && i+1 < len(sess) && sess[i+1].Send != nil {
				return sess[i+1].Send
			}
		}
	}
	t.Fatalf("no captured reply to %q", cmd)
	return nil
}

// idleSession is vm_json's handshake, then silence: a FreeSWITCH the
// connector attaches to again.
func idleSession(t *testing.T) esltest.Session {
	t.Helper()
	vm := sessions(t, "vm_json.txt")[0]
	return append(esltest.Session(nil), vm[:5]...)
}

// eventBodies are the JSON events of captured bytes that the connector
// forwards (not HEARTBEAT, not BACKGROUND_JOB), in order.
func eventBodies(t *testing.T, steps ...esltest.Step) [][]byte {
	t.Helper()
	var all []byte
	for _, st := range steps {
		all = append(all, st.Send...)
	}
	r := bufio.NewReader(bytes.NewReader(all))
	var out [][]byte
	for {
		f, err := esl.ReadFrame(r)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.ContentType() != esl.TypeEventJSON {
			continue
		}
		var ev fsEvent
		if err := json.Unmarshal(f.Body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Name != "HEARTBEAT" && ev.Name != "BACKGROUND_JOB" {
			out = append(out, f.Body)
		}
	}
}

// natsServer is an in-process NATS the test can stop and start again on
// the same port and store.
type natsServer struct {
	t     *testing.T
	srv   *natsembed.Server
	port  int
	store string
	url   string
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	n := &natsServer{t: t, store: t.TempDir(), port: -1}
	n.start()
	u, err := url.Parse(n.url)
	if err != nil {
		t.Fatal(err)
	}
	n.port, _ = strconv.Atoi(u.Port())
	nc, js := n.client()
	defer nc.Close()
	if err := bus.EnsureStreams(t.Context(), js, bus.DefaultStreamOptions()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.srv != nil {
			n.srv.Shutdown()
		}
	})
	return n
}

func (n *natsServer) start() {
	srv, err := natsembed.Start(natsembed.Options{Host: "127.0.0.1", Port: n.port, StoreDir: n.store, ServerName: "conn-test"})
	if err != nil {
		n.t.Fatal(err)
	}
	n.srv, n.url = srv, srv.ClientURL()
}

func (n *natsServer) stop() {
	n.srv.Shutdown()
	n.srv = nil
}

func (n *natsServer) client() (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect(n.url)
	if err != nil {
		n.t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		n.t.Fatal(err)
	}
	return nc, js
}

// stored reads the PBX stream in order.
func (n *natsServer) stored(t *testing.T) [][]byte {
	t.Helper()
	nc, js := n.client()
	defer nc.Close()
	return linktest.Stored(t, js, subject)
}

type running struct {
	conn      *Connector
	fwd       *forward.Forwarder
	sp        *spool.Spool
	spoolFull atomic.Int64
}

// startConnector runs a connector (and its forwarder) against addr until
// the test ends.
func startConnector(t *testing.T, n *natsServer, addr, password string, spoolMax int64) *running {
	t.Helper()
	return startConnectorWith(t, n, addr, password, spoolMax, nil)
}

// startConnectorWith lets setup finish the connector before it runs.
func startConnectorWith(t *testing.T, n *natsServer, addr, password string, spoolMax int64, setup func(*running)) *running {
	t.Helper()
	r := &running{}
	linktest.Start(t, n.url, subject, spoolMax, func(rig *linktest.Rig) linktest.Connector {
		r.sp, r.fwd = rig.Spool, rig.Fwd
		rig.Link.Metrics = link.Metrics{SpoolFull: func() { r.spoolFull.Add(1) }}
		r.conn = &Connector{
			Link: rig.Link,
			Addr: addr, Password: password, StateDir: rig.Dir,
			Idle: 5 * time.Second,
			Now:  func() time.Time { return time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC) },
		}
		if setup != nil {
			setup(r)
		}
		return r.conn
	})
	return r
}

func headersOf(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var h map[string]string
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("%v: %.200s", err, body)
	}
	return h
}

func sameBodies(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events stored, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("event %d differs from the capture:\n got %.200s\nwant %.200s", i, got[i], want[i])
		}
	}
}

func TestForwardsTheCaptureRawAndInOrder(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	vm := sessions(t, "vm_json.txt")
	proto := sessions(t, "proto.txt")
	srv := esltest.Start(t, esltest.Options{
		Sessions: vm, Idle: idleSession(t), ClientCommands: ours,
		Answers: map[string][]byte{"api show channels as json": replyTo(t, proto, "api show channels as json")},
	})
	r := startConnector(t, n, srv.Addr(), "ClueCon", 1<<20)
	want := eventBodies(t, vm[0]...)
	if len(want) != 12 {
		t.Fatalf("capture has %d call events, want 12", len(want))
	}
	testenv.Eventually(t, 20*time.Second, "every event on the PBX stream", func() bool { return len(n.stored(t)) >= len(want) })
	// The capture's client exited; the connector attaches again.
	testenv.Eventually(t, 20*time.Second, "a second attachment", func() bool { return srv.Accepted() >= 2 && r.conn.Ready(t.Context()) == nil })
	sameBodies(t, n.stored(t), want)
	// Each attachment authenticates, subscribes and asks for the live
	// channels (the first one's request may still be in flight when the
	// capture's FreeSWITCH closes the socket), and sends nothing else.
	got := srv.Received()
	snapshots := 0
	for _, cmd := range got {
		if cmd == "api show channels as json" {
			snapshots++
		} else if !ours(cmd) {
			t.Errorf("unexpected command %q", cmd)
		}
	}
	if len(got) < 2 || got[0] != "auth ClueCon" || got[1] != subscription || snapshots == 0 {
		t.Errorf("commands %q", got)
	}
	if r.sp.Len() != 0 {
		t.Errorf("%d events left in the spool", r.sp.Len())
	}
}

func TestDisconnectMidCallResynchronises(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	dc := sessions(t, "disconnect.txt")
	if len(dc) != 2 {
		t.Fatalf("disconnect.txt: %d sessions, want 2", len(dc))
	}
	proto := sessions(t, "proto.txt")
	srv := esltest.Start(t, esltest.Options{
		Sessions: dc, Idle: idleSession(t), ClientCommands: ours,
		Answers: map[string][]byte{"api show channels as json": replyTo(t, proto, "api show channels as json")},
	})
	startConnector(t, n, srv.Addr(), "ClueCon", 1<<20)
	tail := eventBodies(t, dc[1]...)
	// The snapshot lists the call's 4 channels, begun during the gap.
	var snap struct {
		Rows []liveChannel `json:"rows"`
	}
	snapFrame := replyTo(t, dc, "api show channels as json")
	f, err := esl.ReadFrame(bufio.NewReader(bytes.NewReader(snapFrame)))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(f.Body, &snap); err != nil || len(snap.Rows) != 4 {
		t.Fatalf("snapshot: %v, %d rows", err, len(snap.Rows))
	}
	testenv.Eventually(t, 20*time.Second, "the reconstructed starts and the tail", func() bool { return len(n.stored(t)) >= 4+len(tail) })
	got := n.stored(t)
	for i, row := range snap.Rows {
		h := headersOf(t, got[i])
		if h["Event-Name"] != "CHANNEL_CREATE" || h["Unique-ID"] != row.UUID || h["variable_"+event.ReconstructedVar] != "true" ||
			h["Call-Direction"] != row.Direction || h["Caller-Destination-Number"] != row.Dest || h["Event-Date-Timestamp"] != row.CreatedEpoch+"000000" {
			t.Errorf("event %d: %v, want a reconstructed CHANNEL_CREATE of %+v", i, h, row)
		}
	}
	sameBodies(t, got[4:], tail)
}

// truncatedAfter cuts a session inside its byte stream after frames of
// the chunk that follows the command after, then closes: a FreeSWITCH that
// went away mid-call.
func truncatedAfter(t *testing.T, sess esltest.Session, after string, frames int) esltest.Session {
	t.Helper()
	for i, st := range sess {
		if st.Expect != after {
			continue
		}
		chunk := sess[i+1].Send
		br := bytes.NewReader(chunk)
		r := bufio.NewReader(br)
		for range frames {
			if _, err := esl.ReadFrame(r); err != nil {
				t.Fatal(err)
			}
		}
		used := len(chunk) - br.Len() - r.Buffered()
		out := append(esltest.Session(nil), sess[:i+1]...)
		return append(out, esltest.Step{Send: chunk[:used]}, esltest.Step{Close: true})
	}
	t.Fatalf("no %q in the session", after)
	return nil
}

func TestCallsEndedDuringAPBXRestartAreClosed(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	vm := sessions(t, "vm_json.txt")
	proto := sessions(t, "proto.txt")
	// The voicemail call: bgapi's reply, both legs created and answered;
	// then FreeSWITCH restarts, and the next attachment finds no channel.
	cut := truncatedAfter(t, vm[0], "bgapi originate {origination_caller_id_number=5551000}loopback/203/default &park()", 5)
	srv := esltest.Start(t, esltest.Options{
		Sessions: []esltest.Session{cut}, Idle: idleSession(t), ClientCommands: ours,
		Answers: map[string][]byte{"api show channels as json": replyTo(t, proto, "api show channels as json")},
	})
	startConnector(t, n, srv.Addr(), "ClueCon", 1<<20)
	before := eventBodies(t, cut...)
	if len(before) != 4 {
		t.Fatalf("%d events before the restart, want 4", len(before))
	}
	testenv.Eventually(t, 20*time.Second, "the reconstructed ends", func() bool { return len(n.stored(t)) >= 6 })
	got := n.stored(t)
	sameBodies(t, got[:4], before)
	ended := map[string]bool{}
	for _, body := range got[4:] {
		h := headersOf(t, body)
		if h["Event-Name"] != "CHANNEL_HANGUP_COMPLETE" || h["Answer-State"] != "answered" || h["variable_"+event.ReconstructedVar] != "true" ||
			h["Event-UUID"] != "pbxhooks-reconstructed-destroy-"+h["Unique-ID"] || h["Caller-Destination-Number"] != "203" {
			t.Errorf("reconstructed end %v", h)
		}
		ended[h["Unique-ID"]] = true
	}
	if !ended["cf3e7ca0-8d86-4a71-afa0-06b30a6a48fa"] || !ended["25a51c63-2f3d-4fc1-bf64-4b20e2295134"] || len(got) != 6 {
		t.Errorf("ended %v among %d events, want both legs of the call once", ended, len(got))
	}
}

func TestNATSDownNothingLostOrderKept(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	vm := sessions(t, "vm_json.txt")
	proto := sessions(t, "proto.txt")
	n.stop()
	srv := esltest.Start(t, esltest.Options{
		Sessions: vm, Idle: idleSession(t), ClientCommands: ours,
		Answers: map[string][]byte{"api show channels as json": replyTo(t, proto, "api show channels as json")},
	})
	r := startConnector(t, n, srv.Addr(), "ClueCon", 1<<20)
	want := eventBodies(t, vm[0]...)
	// The socket is read in full while NATS is away: FreeSWITCH never
	// sees a slow listener.
	testenv.Eventually(t, 20*time.Second, "the whole call in the spool", func() bool { return r.sp.Len() == len(want) && srv.Accepted() >= 2 })
	testenv.Eventually(t, 20*time.Second, "readiness to report NATS", func() bool { return r.fwd.Ready(t.Context()) != nil })
	n.start()
	testenv.Eventually(t, 20*time.Second, "the spool to drain", func() bool { return r.sp.Len() == 0 })
	sameBodies(t, n.stored(t), want)
	if err := r.fwd.Ready(t.Context()); err != nil {
		t.Errorf("forwarder not ready after NATS returned: %v", err)
	}
}

func TestFullSpoolLeavesThePBXThenResynchronises(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	vm := sessions(t, "vm_json.txt")
	proto := sessions(t, "proto.txt")
	n.stop()
	srv := esltest.Start(t, esltest.Options{
		Sessions: vm, Idle: idleSession(t), ClientCommands: ours,
		Answers: map[string][]byte{"api show channels as json": replyTo(t, proto, "api show channels as json")},
	})
	want := eventBodies(t, vm[0]...)
	// Room for the two CHANNEL_CREATEs and the first CHANNEL_ANSWER only.
	limit := int64(len(want[0]) + len(want[1]) + len(want[2]) + 3*64)
	r := startConnector(t, n, srv.Addr(), "ClueCon", limit)
	testenv.Eventually(t, 20*time.Second, "the spool to fill", func() bool { return r.spoolFull.Load() > 0 })
	if err := r.conn.Ready(t.Context()); err == nil {
		t.Error("ready while disconnected for a full spool")
	}
	n.start()
	// Once the spool drains, the connector attaches again (the idle
	// FreeSWITCH has no channel) and ends the calls it had seen begin.
	testenv.Eventually(t, 20*time.Second, "the reconstructed ends", func() bool { return len(n.stored(t)) >= 5 })
	got := n.stored(t)
	sameBodies(t, got[:3], want[:3])
	for _, body := range got[3:] {
		h := headersOf(t, body)
		if h["Event-Name"] != "CHANNEL_HANGUP_COMPLETE" || h["variable_"+event.ReconstructedVar] != "true" {
			t.Errorf("after the gap: %v", h)
		}
	}
}

func TestWrongPasswordIsNotReady(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	srv := esltest.Start(t, esltest.Options{Sessions: sessions(t, "badauth.txt"), ClientCommands: func(string) bool { return true }})
	r := startConnector(t, n, srv.Addr(), "wrong", 1<<20)
	testenv.Eventually(t, 20*time.Second, "the refused attempt", func() bool { return len(srv.Received()) >= 1 })
	if got := srv.Received()[0]; got != "auth wrong" {
		t.Errorf("sent %q", got)
	}
	if err := r.conn.Ready(t.Context()); err == nil {
		t.Error("ready after FreeSWITCH refused the password")
	}
	if len(n.stored(t)) != 0 {
		t.Error("events stored without a session")
	}
}
