package native

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// fields decodes the members of one JSON object one at a time, so that
// every bad member is reported rather than only the first, and members
// pbxhooks does not know are ignored (PBXs add fields over time). JSON null
// counts as absent.
type fields struct {
	raw      map[string]json.RawMessage
	problems adapter.ValidationError
}

func (f *fields) present(name string) (json.RawMessage, bool) {
	v, ok := f.raw[name]
	if !ok {
		return nil, false
	}
	v = bytes.TrimSpace(v)
	if bytes.Equal(v, []byte("null")) {
		return nil, false
	}
	return v, true
}

func (f *fields) add(field, rule, format string, args ...any) {
	f.problems.Add(field, rule, field+" "+fmt.Sprintf(format, args...))
}

// str returns a string member of at most maxBytes bytes.
func (f *fields) str(name string, maxBytes int) string {
	v, ok := f.present(name)
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		f.add(name, adapter.RuleType, "must be a string")
		return ""
	}
	if len(s) > maxBytes {
		f.add(name, adapter.RuleMaxLength, "must be at most %d bytes", maxBytes)
		return ""
	}
	return s
}

// requiredStr is str that must be present and non-empty.
func (f *fields) requiredStr(name string, maxBytes int, why string) string {
	if _, ok := f.present(name); !ok {
		f.add(name, adapter.RuleRequired, "is required%s", why)
		return ""
	}
	s := f.str(name, maxBytes)
	if s == "" && !f.lastProblemIs(name) {
		f.add(name, adapter.RuleMinLength, "must not be empty")
	}
	return s
}

// enum returns a string member that must be one of allowed.
func (f *fields) enum(name string, allowed []string) string {
	if _, ok := f.present(name); !ok {
		return ""
	}
	s := f.str(name, maxStringBytes)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	if !f.lastProblemIs(name) {
		f.add(name, adapter.RuleEnum, "must be one of %v", allowed)
	}
	return ""
}

// integer returns a whole-number member within [lo, hi].
func (f *fields) integer(name string, lo, hi int64) int64 {
	v, ok := f.present(name)
	if !ok {
		return 0
	}
	// A JSON number's raw form is its literal, so ParseInt accepts exactly
	// the whole numbers and rejects fractions, exponents and strings.
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		if numErr, isNum := err.(*strconv.NumError); isNum && numErr.Err == strconv.ErrRange {
			f.add(name, adapter.RuleMaximum, "must be between %d and %d", lo, hi)
			return 0
		}
		f.add(name, adapter.RuleType, "must be a whole number")
		return 0
	}
	if n < lo {
		f.add(name, adapter.RuleMinimum, "must be at least %d", lo)
		return 0
	}
	if n > hi {
		f.add(name, adapter.RuleMaximum, "must be at most %d", hi)
		return 0
	}
	return n
}

// boolean returns a true/false member and whether it was given.
func (f *fields) boolean(name string) (value, given bool) {
	v, ok := f.present(name)
	if !ok {
		return false, false
	}
	if err := json.Unmarshal(v, &value); err != nil {
		f.add(name, adapter.RuleType, "must be true or false")
		return false, false
	}
	return value, true
}

// stringMap returns an object member whose values are all strings.
func (f *fields) stringMap(name string, maxEntries, maxKeyBytes, maxValueBytes int) map[string]string {
	v, ok := f.present(name)
	if !ok {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		f.add(name, adapter.RuleType, "must be an object of strings")
		return nil
	}
	if len(m) > maxEntries {
		f.add(name, adapter.RuleMaxProperties, "must have at most %d members", maxEntries)
		return nil
	}
	out := make(map[string]string, len(m))
	for k, raw := range m {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			f.add(name, adapter.RuleType, "must be an object of strings; %q is not a string", truncate(k, 64))
			return nil
		}
		if len(k) > maxKeyBytes || len(s) > maxValueBytes {
			f.add(name, adapter.RuleMaxLength, "keys must be at most %d bytes and values at most %d bytes", maxKeyBytes, maxValueBytes)
			return nil
		}
		out[k] = s
	}
	return out
}

func (f *fields) lastProblemIs(name string) bool {
	n := len(f.problems.Fields)
	return n > 0 && f.problems.Fields[n-1].Field == name
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
