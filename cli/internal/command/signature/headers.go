package signature

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// ParseHeaders reads request headers as saved by a receiver or copied from
// an attempt: either a JSON object (values a string or an array of
// strings, as `attempts list --output json` shows request.headers), or
// "Name: value" lines as curl -D or a proxy log writes them, optionally
// after a request or status line ("POST /hooks HTTP/1.1"). It fails on
// anything else, naming the line.
func ParseHeaders(data []byte) (http.Header, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("no headers")
	}
	if trimmed[0] == '{' {
		return parseJSONHeaders(trimmed)
	}
	return parseHeaderLines(trimmed)
}

func parseJSONHeaders(data []byte) (http.Header, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("headers JSON: %w", err)
	}
	h := http.Header{}
	for name, value := range raw {
		if !validName(name) {
			return nil, fmt.Errorf("headers JSON: %q is not a header name", name)
		}
		var one string
		if err := json.Unmarshal(value, &one); err == nil {
			h.Add(name, one)
			continue
		}
		var many []string
		if err := json.Unmarshal(value, &many); err != nil {
			return nil, fmt.Errorf("headers JSON: %s must be a string or an array of strings", name)
		}
		for _, v := range many {
			h.Add(name, v)
		}
	}
	return h, nil
}

func parseHeaderLines(data []byte) (http.Header, error) {
	h := http.Header{}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 4096), len(data)+1)
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimRight(scanner.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			// The blank line ends the headers (a body may follow).
			break
		}
		if n == 1 && isStartLine(line) {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validName(name) {
			return nil, fmt.Errorf("headers line %d: want \"Name: value\", got %q", n, truncate(line))
		}
		h.Add(name, strings.TrimSpace(value))
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	return h, nil
}

// isStartLine recognises "POST /path HTTP/1.1" and "HTTP/1.1 200 OK".
func isStartLine(line string) bool {
	return strings.HasPrefix(line, "HTTP/") || strings.HasSuffix(line, " HTTP/1.1") ||
		strings.HasSuffix(line, " HTTP/1.0") || strings.HasSuffix(line, " HTTP/2")
}

// validName is an RFC 9110 token; textproto canonicalises only those.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return textproto.CanonicalMIMEHeaderKey(name) != ""
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
