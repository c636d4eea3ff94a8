// Package ami reads Asterisk Manager Interface (AMI, port 5038) messages:
// "Key: Value" lines ended by CRLF, a message ended by an empty line. The
// connector reads the stream with ReadMessage and publishes each event's
// bytes as they came; ingest parses one event with Parse. One parser
// serves both, so the two agree on what a message is.
package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bounds on one message: an event with its channel variables is a few
// KiB; a CoreShowChannel list item is smaller.
const (
	MaxLineBytes    = 8 << 10
	MaxHeaders      = 256
	MaxMessageBytes = 256 << 10
	maxBlankLines   = 64
)

// ErrMessage reports a message that breaks the format or the bounds.
var ErrMessage = errors.New("ami: malformed message")

// Header is one "Key: Value" line.
type Header struct {
	Key, Value string
}

// Message is one AMI message, its headers in arrival order (a key such as
// ChanVariable may repeat).
type Message struct {
	Headers []Header
	// Raw is the message's bytes as read, with its ending empty line.
	Raw []byte
}

// Get returns the first value of key ("" when absent). AMI keys are
// matched without regard to case, as Asterisk does.
func (m *Message) Get(key string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value
		}
	}
	return ""
}

// Has reports whether key is present.
func (m *Message) Has(key string) bool {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return true
		}
	}
	return false
}

// Values returns every value of key, in order.
func (m *Message) Values(key string) []string {
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Variables reads the ChanVariable headers ("name=value", as manager.conf's
// channelvars adds them) into a map; a later value of a name wins.
func (m *Message) Variables() map[string]string {
	out := map[string]string{}
	for _, v := range m.Values("ChanVariable") {
		if name, value, ok := strings.Cut(v, "="); ok && name != "" {
			out[name] = value
		}
	}
	return out
}

// ReadMessage reads one message. Empty lines before it are skipped. A
// clean EOF before a message starts is io.EOF.
func ReadMessage(r *bufio.Reader) (*Message, error) {
	m := &Message{}
	blank := 0 // empty lines skipped before this message
	for {
		line, raw, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) && len(m.Headers) == 0 {
				return nil, io.EOF
			}
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: connection closed inside a message", ErrMessage)
			}
			return nil, err
		}
		if line == "" {
			if len(m.Headers) > 0 {
				m.Raw = append(m.Raw, raw...)
				return m, nil
			}
			if blank++; blank > maxBlankLines {
				return nil, fmt.Errorf("%w: more than %d empty lines between messages", ErrMessage, maxBlankLines)
			}
			continue
		}
		if len(m.Raw)+len(raw) > MaxMessageBytes {
			return nil, fmt.Errorf("%w: longer than %d bytes", ErrMessage, MaxMessageBytes)
		}
		m.Raw = append(m.Raw, raw...)
		key, value, ok := strings.Cut(line, ":")
		if !ok || key == "" {
			return nil, fmt.Errorf("%w: line without a key: %.64q", ErrMessage, line)
		}
		if len(m.Headers) == MaxHeaders {
			return nil, fmt.Errorf("%w: more than %d headers", ErrMessage, MaxHeaders)
		}
		m.Headers = append(m.Headers, Header{Key: key, Value: strings.TrimPrefix(value, " ")})
	}
}

// Parse reads exactly one message from b (its ending empty line may be
// missing, as when a message's bytes are stored alone).
func Parse(b []byte) (*Message, error) {
	if len(b) > MaxMessageBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMessage, MaxMessageBytes)
	}
	if !bytes.HasSuffix(b, []byte("\n\n")) && !bytes.HasSuffix(b, []byte("\r\n\r\n")) {
		b = append(append([]byte(nil), b...), "\r\n\r\n"...)
	}
	r := bufio.NewReader(bytes.NewReader(b))
	m, err := ReadMessage(r)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: empty", ErrMessage)
	}
	if err != nil {
		return nil, err
	}
	if _, err := ReadMessage(r); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one message", ErrMessage)
	}
	return m, nil
}

// readLine reads one line, returning it without its line ending and its
// raw bytes.
func readLine(r *bufio.Reader) (string, []byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+2 {
			return "", nil, fmt.Errorf("%w: line longer than %d bytes", ErrMessage, MaxLineBytes)
		}
		buf = append(buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return "", nil, fmt.Errorf("%w: connection closed inside a line", ErrMessage)
			}
			return "", nil, err
		}
		line := bytes.TrimSuffix(buf[:len(buf)-1], []byte("\r"))
		return string(line), buf, nil
	}
}
