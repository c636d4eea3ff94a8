package httperror

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Listener wraps ln so that the answers net/http writes itself when it
// cannot read a request (oversized headers: 431; a malformed request line,
// header or Host: 400; an unknown Transfer-Encoding: 501) are sent in the
// error envelope instead of net/http's plain text. Serve an http.Server on
// the returned listener; everything else passes through unchanged.
//
// net/http offers no hook for these answers: it writes each with a single
// Write on the connection, as a status line followed by exactly
// plainErrorHeaders and a short text. No handler's answer has that shape
// (net/http sorts header names and always adds Date), so the rewrite never
// touches a handler's answer.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// conn rewrites net/http's plain-text protocol error answers.
type conn struct{ net.Conn }

func (c *conn) Write(p []byte) (int, error) {
	status, detail, ok := parsePlainAnswer(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(render(status, detail)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite lets net/http half-close after a 431 (it does so when the
// connection can), so the client reads the answer before the reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// plainErrorHeaders are the headers net/http puts on the answers it writes
// without a handler (net/http's server.go, conn.serve).
const plainErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// maxPlainAnswer bounds what is taken for such an answer; net/http's are
// under 200 bytes.
const maxPlainAnswer = 1 << 10

// parsePlainAnswer recognises one of net/http's own error answers,
// "HTTP/1.1 <code> <reason>[: <detail>]" + plainErrorHeaders + text, and
// returns its status and the detail net/http gave (empty when none).
func parsePlainAnswer(p []byte) (status int, detail string, ok bool) {
	const prefix = "HTTP/1.1 "
	if len(p) > maxPlainAnswer || !bytes.HasPrefix(p, []byte(prefix)) {
		return 0, "", false
	}
	statusLine, _, found := bytes.Cut(p[len(prefix):], []byte(plainErrorHeaders))
	if !found || bytes.ContainsAny(statusLine, "\r\n") {
		return 0, "", false
	}
	code, reason, _ := strings.Cut(string(statusLine), " ")
	status, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || status < 400 || status > 599 {
		return 0, "", false
	}
	text := http.StatusText(status)
	if text == "" || !strings.HasPrefix(reason, text) {
		return 0, "", false
	}
	detail = strings.TrimPrefix(strings.TrimPrefix(reason, text), ": ")
	return status, detail, true
}

// render is the envelope answer for one of net/http's protocol errors.
func render(status int, detail string) []byte {
	// An envelope of strings always marshals.
	body, _ := json.Marshal(New(status, protocolMessage(status, detail), nil))
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}

// protocolMessage says what was wrong with the request, in the words of
// the API's other messages.
func protocolMessage(status int, detail string) string {
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		return "the request headers are too large"
	case status == http.StatusNotImplemented:
		return "unsupported Transfer-Encoding"
	case detail != "":
		return "malformed request: " + detail
	default:
		return "malformed request"
	}
}
