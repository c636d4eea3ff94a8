package validation

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Unstorable is a string in a JSON document that PostgreSQL cannot store.
type Unstorable struct {
	// Path locates the string from the document's root: member names, and
	// array indexes written [i]. For a member name that is itself
	// unstorable, the path ends at the object holding it.
	Path []string
	// Reason says what is wrong, for a person to act on.
	Reason string
}

// Field is the dotted path ("custom_data.note", "list[2]"), the whole
// document when Path is empty.
func (u Unstorable) Field() string {
	var b strings.Builder
	for _, p := range u.Path {
		if b.Len() > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// Reasons a string cannot be stored.
const (
	reasonNUL       = `contains the NUL character (\u0000), which cannot be stored`
	reasonSurrogate = `contains an unpaired UTF-16 surrogate escape (\ud800 to \udfff), which is not a character`
	reasonUTF8      = "is not valid UTF-8"
	reasonSyntax    = "is not valid JSON"
)

// FindUnstorable returns the first string of doc, a member name or a value,
// that PostgreSQL's text and jsonb types cannot hold: one with NUL (raw or
// \u0000), with an unpaired surrogate escape, or with bytes that are not
// UTF-8. Go's decoder silently turns the last two into U+FFFD, so the check
// reads each string's raw literal rather than the decoded value. A doc that
// is not valid JSON is reported with an empty path.
//
// Every text a client sends the API is stored from a JSON body, so this is
// the one rule of what text may be stored; it runs on every request body
// before any handler reads it.
func FindUnstorable(doc []byte) (Unstorable, bool) {
	if !json.Valid(doc) {
		return Unstorable{Reason: reasonSyntax}, true
	}
	// Valid JSON holds no raw NUL, so a document without escapes whose
	// bytes are UTF-8 has no string to refuse: skip the token walk, by far
	// the dearest part, for the common body.
	if bytes.IndexByte(doc, '\\') < 0 && utf8.Valid(doc) {
		return Unstorable{}, false
	}
	w := walker{doc: doc, dec: json.NewDecoder(bytes.NewReader(doc))}
	w.dec.UseNumber()
	return w.walk()
}

// frame is one open object or array of the walk.
type frame struct {
	array   bool
	index   int
	key     string
	wantKey bool
}

type walker struct {
	doc   []byte
	dec   *json.Decoder
	stack []frame
}

func (w *walker) walk() (Unstorable, bool) {
	prev := int64(0)
	for {
		tok, err := w.dec.Token()
		if err == io.EOF {
			return Unstorable{}, false
		}
		if err != nil {
			return Unstorable{Reason: reasonSyntax}, true
		}
		end := w.dec.InputOffset()
		raw := w.doc[prev:end]
		prev = end
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				w.stack = append(w.stack, frame{wantKey: true})
			case '[':
				w.stack = append(w.stack, frame{array: true})
			default:
				w.stack = w.stack[:len(w.stack)-1]
				w.valueDone()
			}
		case string:
			// The token's bytes are what follows the previous token:
			// separators, then the literal.
			literal := bytes.TrimLeft(raw, " \t\r\n,:")
			isKey := len(w.stack) > 0 && !w.stack[len(w.stack)-1].array && w.stack[len(w.stack)-1].wantKey
			if reason := checkStringLiteral(literal); reason != "" {
				path := w.path()
				if isKey {
					reason = "has a member name that " + reason
				}
				return Unstorable{Path: path, Reason: reason}, true
			}
			if isKey {
				top := &w.stack[len(w.stack)-1]
				top.key, top.wantKey = t, false
				continue
			}
			w.valueDone()
		default:
			w.valueDone()
		}
	}
}

// valueDone moves the innermost container past the value just read.
func (w *walker) valueDone() {
	if len(w.stack) == 0 {
		return
	}
	top := &w.stack[len(w.stack)-1]
	if top.array {
		top.index++
	} else {
		top.wantKey = true
	}
}

// path is where the walk is: the member or element being read.
func (w *walker) path() []string {
	out := make([]string, 0, len(w.stack))
	for _, f := range w.stack {
		switch {
		case f.array:
			out = append(out, "["+strconv.Itoa(f.index)+"]")
		case !f.wantKey:
			out = append(out, f.key)
		}
	}
	return out
}

// checkStringLiteral judges one JSON string literal, quotes included, as
// the decoder accepted it; "" when PostgreSQL can store it.
func checkStringLiteral(literal []byte) string {
	if !utf8.Valid(literal) {
		return reasonUTF8
	}
	for i := 0; i < len(literal); i++ {
		switch literal[i] {
		case 0:
			return reasonNUL
		case '\\':
		default:
			continue
		}
		i++
		if i >= len(literal) || literal[i] != 'u' {
			continue
		}
		r, ok := hex4(literal, i+1)
		if !ok {
			return reasonSyntax
		}
		i += 4
		switch {
		case r == 0:
			return reasonNUL
		case r >= 0xdc00 && r <= 0xdfff:
			return reasonSurrogate
		case r >= 0xd800 && r <= 0xdbff:
			// A high surrogate must be followed by a low one.
			if i+2 >= len(literal) || literal[i+1] != '\\' || literal[i+2] != 'u' {
				return reasonSurrogate
			}
			low, ok := hex4(literal, i+3)
			if !ok || utf16.DecodeRune(r, low) == utf8.RuneError {
				return reasonSurrogate
			}
			i += 6
		}
	}
	return ""
}

// hex4 reads the four hexadecimal digits of a \u escape starting at from.
func hex4(b []byte, from int) (rune, bool) {
	if from+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[from:from+4]), 16, 16)
	return rune(n), err == nil
}

// AddUnstorable records u as a format violation of the top-level member it
// is in (the document itself when it has no path), naming the full path in
// the message. within is the path of the document u was found in.
func (v *Violations) AddUnstorable(u Unstorable, within ...string) {
	path := append(append([]string(nil), within...), u.Path...)
	field, message := "data", u.Reason
	if len(path) > 0 {
		field = path[0]
	}
	if len(path) > 1 {
		message = Unstorable{Path: path}.Field() + " " + u.Reason
	}
	v.Add(shorten(field), RuleFormat, Rule{Message: shorten(message)})
}

// shorten bounds client-supplied names echoed in an error, cutting on a
// rune boundary.
func shorten(s string) string {
	const limit = 200
	if len(s) <= limit {
		return s
	}
	n := limit
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
