// Package esltest is a FreeSWITCH event socket server for tests that
// replays captures of a real FreeSWITCH byte for byte: what FreeSWITCH sent
// is written as captured, and the commands the capture shows the client
// sending are awaited and checked.
package esltest

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
)

// Step is one part of a captured session: bytes FreeSWITCH sent, a command
// the client sent (Expect), or the socket closing.
type Step struct {
	Send   []byte
	Expect string
	Close  bool
}

// Session is one captured connection.
type Session []Step

// ParseCapture splits a capture (FreeSWITCH's bytes, with the client's
// commands on lines starting ">>> " and notes on lines starting "### ") into
// its connections; "### socket closed" ends one.
func ParseCapture(capture []byte) []Session {
	var sessions []Session
	var cur Session
	var pending []byte
	flush := func() {
		if len(pending) > 0 {
			cur = append(cur, Step{Send: pending})
			pending = nil
		}
	}
	for rest := capture; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		switch {
		case bytes.HasPrefix(line, []byte(">>> ")):
			flush()
			cur = append(cur, Step{Expect: strings.TrimRight(string(line[4:]), "\r\n")})
		case bytes.HasPrefix(line, []byte("### ")):
			flush()
			if bytes.Contains(line, []byte("socket closed")) {
				cur = append(cur, Step{Close: true})
				sessions = append(sessions, cur)
				cur = nil
			}
		default:
			pending = append(pending, line...)
		}
	}
	flush()
	if len(cur) > 0 {
		sessions = append(sessions, cur)
	}
	return sessions
}

// Server serves sessions to successive connections, then Idle to any
// further one.
type Server struct {
	t  testing.TB
	ln net.Listener
	// ClientCommands are the commands the client under test sends; other
	// commands in a capture were sent by the capturing client (calls it
	// placed, its exit) and are not awaited.
	clientCommands func(string) bool
	// Answers replies to a client command the session does not show,
	// with bytes captured elsewhere (say, `show channels` from proto.txt).
	answers map[string][]byte

	mu       sync.Mutex
	sessions []Session
	idle     Session
	conns    []net.Conn
	// Received lists every command the client sent, in order.
	received []string
	accepted int
	done     chan struct{}
}

// Options configure a Server.
type Options struct {
	Sessions []Session
	// Idle is served once Sessions are used up (nil: close at once).
	Idle Session
	// ClientCommands reports the commands the client under test sends.
	ClientCommands func(cmd string) bool
	// Answers maps an unscripted client command to the captured bytes that
	// answer it.
	Answers map[string][]byte
}

// Start listens on 127.0.0.1 and serves until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, ln: ln, clientCommands: opts.ClientCommands, answers: opts.Answers,
		sessions: opts.Sessions, idle: opts.Idle, done: make(chan struct{})}
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Received returns the commands received so far.
func (s *Server) Received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.received...)
}

// Accepted is the number of connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// CloseAll drops every open connection, as a FreeSWITCH restart would.
func (s *Server) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.accepted++
		sess := s.idle
		if len(s.sessions) > 0 {
			sess, s.sessions = s.sessions[0], s.sessions[1:]
		}
		s.mu.Unlock()
		go s.serve(c, sess)
	}
}

// serve plays one session. Client commands are read on their own
// goroutine; unscripted ones are answered at once from Answers.
func (s *Server) serve(c net.Conn, sess Session) {
	defer c.Close()
	var wmu sync.Mutex
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write(b)
		return err
	}
	expected := make(chan string, 16)
	var scripted []string
	for _, st := range sess {
		if st.Expect != "" && s.clientCommands(st.Expect) {
			scripted = append(scripted, st.Expect)
		}
	}
	go func() {
		r := bufio.NewReader(c)
		for {
			cmd, err := readCommand(r)
			if err != nil {
				close(expected)
				return
			}
			s.mu.Lock()
			s.received = append(s.received, cmd)
			s.mu.Unlock()
			if len(scripted) > 0 && scripted[0] == cmd {
				scripted = scripted[1:]
				expected <- cmd
				continue
			}
			if answer, ok := s.answers[cmd]; ok {
				if write(answer) != nil {
					return
				}
				continue
			}
			if len(scripted) > 0 {
				// A command out of the captured order.
				expected <- cmd
			}
		}
	}()
	for _, st := range sess {
		switch {
		case st.Close:
			return
		case st.Send != nil:
			if write(st.Send) != nil {
				return
			}
		case s.clientCommands(st.Expect):
			select {
			case got, ok := <-expected:
				if !ok {
					return
				}
				if got != st.Expect {
					s.t.Errorf("esltest: client sent %q, the capture shows %q", got, st.Expect)
					return
				}
			case <-time.After(10 * time.Second):
				s.t.Errorf("esltest: client did not send %q", st.Expect)
				return
			}
		}
	}
	// A session without a close stays open until the client or the test
	// ends it.
	for range expected {
	}
}

// readCommand reads one client command: lines up to an empty line.
func readCommand(r *bufio.Reader) (string, error) {
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && len(lines) == 0 {
				return "", io.EOF
			}
			return "", fmt.Errorf("esltest: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(lines) == 0 {
				continue
			}
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, line)
	}
}
