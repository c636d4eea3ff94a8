// Package esl is a small FreeSWITCH Event Socket (mod_event_socket) client:
// it reads the socket's frames strictly in order on one goroutine and hands
// each to one handler, so events reach the caller in the order FreeSWITCH
// emitted them and command replies keep their place among them.
package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Bounds on one frame. FreeSWITCH's largest events (a CHANNEL_HANGUP_COMPLETE
// with many variables, `show channels as json` with hundreds of calls)
// are well within them; anything larger is a broken or hostile peer.
const (
	MaxHeaderLineBytes = 16 << 10
	MaxHeaders         = 128
	MaxBodyBytes       = 16 << 20
	// maxBlankLines bounds the empty lines tolerated between frames.
	maxBlankLines = 64
)

// Content types of the frames FreeSWITCH sends.
const (
	TypeAuthRequest      = "auth/request"
	TypeCommandReply     = "command/reply"
	TypeAPIResponse      = "api/response"
	TypeEventJSON        = "text/event-json"
	TypeEventPlain       = "text/event-plain"
	TypeDisconnectNotice = "text/disconnect-notice"
)

// ErrFrame reports a frame that breaks the protocol or the bounds.
var ErrFrame = errors.New("esl: malformed frame")

// Frame is one message of the event socket: its headers in arrival order
// and, when Content-Length says so, its body.
type Frame struct {
	Headers []Header
	Body    []byte
}

// Header is one "Name: value" line.
type Header struct {
	Name, Value string
}

// Get returns the first header named name ("" when absent).
func (f *Frame) Get(name string) string {
	for _, h := range f.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// ContentType is the frame's Content-Type.
func (f *Frame) ContentType() string { return f.Get("Content-Type") }

// ReplyText is a command/reply's Reply-Text.
func (f *Frame) ReplyText() string { return f.Get("Reply-Text") }

// ReadFrame reads one frame. Empty lines before the headers are skipped
// (FreeSWITCH ends some frames with an extra newline). A clean EOF before a
// frame starts is io.EOF; anything else that breaks the protocol or the
// bounds is ErrFrame.
func ReadFrame(r *bufio.Reader) (*Frame, error) {
	f := &Frame{}
	blank := 0 // empty lines skipped before this frame
	for {
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) && len(f.Headers) == 0 {
				return nil, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: connection closed inside a frame", ErrFrame)
			}
			return nil, err
		}
		if line == "" {
			if len(f.Headers) > 0 {
				break
			}
			if blank++; blank > maxBlankLines {
				return nil, fmt.Errorf("%w: more than %d empty lines between frames", ErrFrame, maxBlankLines)
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: header line without a name: %.64q", ErrFrame, line)
		}
		if len(f.Headers) == MaxHeaders {
			return nil, fmt.Errorf("%w: more than %d headers", ErrFrame, MaxHeaders)
		}
		f.Headers = append(f.Headers, Header{Name: name, Value: strings.TrimLeft(value, " ")})
	}
	cl := f.Get("Content-Length")
	if cl == "" {
		return f, nil
	}
	n, err := strconv.Atoi(cl)
	if err != nil || n < 0 || n > MaxBodyBytes {
		return nil, fmt.Errorf("%w: Content-Length %.32q is not a size of at most %d bytes", ErrFrame, cl, MaxBodyBytes)
	}
	f.Body = make([]byte, n)
	if _, err := io.ReadFull(r, f.Body); err != nil {
		return nil, fmt.Errorf("%w: body shorter than its Content-Length %d: %w", ErrFrame, n, err)
	}
	return f, nil
}

// readLine reads one line without its "\n" (or "\r\n"), at most
// MaxHeaderLineBytes long.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxHeaderLineBytes+2 {
			return "", fmt.Errorf("%w: header line longer than %d bytes", ErrFrame, MaxHeaderLineBytes)
		}
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%w: connection closed inside a header line", ErrFrame)
			}
			return "", err
		}
		buf = bytes.TrimSuffix(buf[:len(buf)-1], []byte("\r"))
		return string(buf), nil
	}
}
