package esl

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
)

// ErrAuth reports a password FreeSWITCH refused.
var ErrAuth = errors.New("esl: authentication refused")

// ErrDisconnected reports FreeSWITCH's text/disconnect-notice: it closed
// the session (an exit, a refused password, a listener it found too slow).
var ErrDisconnected = errors.New("esl: FreeSWITCH sent a disconnect notice")

// Conn is one authenticated event socket connection.
type Conn struct {
	conn net.Conn
	r    *bufio.Reader
	// wmu serialises writes.
	wmu sync.Mutex
	// idle is the longest silence Run accepts: FreeSWITCH sends HEARTBEAT
	// events (every 20 s by default) once subscribed to them.
	idle time.Duration
}

// Dial connects to addr, answers FreeSWITCH's auth/request with password
// and returns the connection once FreeSWITCH accepted it. idle bounds every
// wait for the peer.
func Dial(ctx context.Context, addr, password string, idle time.Duration) (*Conn, error) {
	if strings.ContainsAny(password, "\r\n") {
		return nil, errors.New("esl: the password must be one line")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("esl: connect %s: %w", addr, err)
	}
	c := &Conn{conn: nc, r: bufio.NewReaderSize(nc, 64<<10), idle: idle}
	if err := c.auth(password); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) auth(password string) error {
	f, err := c.next()
	if err != nil {
		return fmt.Errorf("esl: waiting for auth/request: %w", err)
	}
	if f.ContentType() != TypeAuthRequest {
		return fmt.Errorf("%w: expected auth/request, got %.64q", ErrFrame, f.ContentType())
	}
	reply, err := c.Command("auth " + password)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("%w: %.128s", ErrAuth, reply)
	}
	return nil
}

// Command sends one command and reads frames up to its command/reply,
// returning the Reply-Text. Only for the handshake, before Run: it fails
// on any other frame, since events are not expected yet.
func (c *Conn) Command(cmd string) (string, error) {
	if err := c.Send(cmd); err != nil {
		return "", err
	}
	f, err := c.next()
	if err != nil {
		return "", fmt.Errorf("esl: waiting for the reply to %q: %w", firstWord(cmd), err)
	}
	switch f.ContentType() {
	case TypeCommandReply:
		return f.ReplyText(), nil
	case TypeDisconnectNotice:
		return "", ErrDisconnected
	}
	return "", fmt.Errorf("%w: expected command/reply, got %.64q", ErrFrame, f.ContentType())
}

// Send writes one command. Commands are single lines; the blank line
// ends them.
func (c *Conn) Send(cmd string) error {
	if strings.ContainsAny(cmd, "\r\n") {
		return fmt.Errorf("esl: command %q is not one line", firstWord(cmd))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return err
	}
	if _, err := io.WriteString(c.conn, cmd+"\n\n"); err != nil {
		return fmt.Errorf("esl: send %q: %w", firstWord(cmd), err)
	}
	return nil
}

// Run reads frames until the connection ends and hands each, in order, to
// handle on this goroutine: events, and the replies of commands sent with
// Send meanwhile. A handler error ends Run. A disconnect notice ends it
// with ErrDisconnected, a silence longer than idle with a timeout error.
func (c *Conn) Run(handle func(*Frame) error) error {
	for {
		f, err := c.next()
		if err != nil {
			return err
		}
		if f.ContentType() == TypeDisconnectNotice {
			return ErrDisconnected
		}
		if err := handle(f); err != nil {
			return err
		}
	}
}

// ReadFrame reads the next frame itself, for a caller that drives the
// exchange without Run.
func (c *Conn) ReadFrame() (*Frame, error) { return c.next() }

func (c *Conn) next() (*Frame, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return nil, err
	}
	return ReadFrame(c.r)
}

// Close closes the connection; a Run in progress returns.
func (c *Conn) Close() error { return c.conn.Close() }

func firstWord(cmd string) string {
	w, _, _ := strings.Cut(cmd, " ")
	return w
}
