// Package hookdoc validates webhook documents as customers send them: the
// Kazoo fields (name, uri, http_verb, hook, retries, custom_data, enabled,
// format, include_internal_legs, include_subaccounts) plus Spoke's call
// and media filters. It turns the "data" member of a request into a
// Document with defaults applied, or reports every violated rule per field,
// so one round trip shows a client everything that is wrong.
//
// Decode works on the document's fields as a map so that an edit (replace)
// and a partial update (merge the stored fields with the patch, then decode)
// validate exactly like a create.
package hookdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// Field names of a hook document.
const (
	FieldName                = "name"
	FieldURI                 = "uri"
	FieldHTTPVerb            = "http_verb"
	FieldHook                = "hook"
	FieldRetries             = "retries"
	FieldCustomData          = "custom_data"
	FieldEnabled             = "enabled"
	FieldFormat              = "format"
	FieldIncludeInternalLegs = "include_internal_legs"
	// FieldIncludeSubaccounts is Kazoo's flag for hearing sub-accounts'
	// events. pbxhooks has no sub-accounts: the flag is stored and returned
	// so Kazoo clients that send it keep working, and has no effect.
	FieldIncludeSubaccounts = "include_subaccounts"
	FieldCallTypes          = "call_types"
	FieldCallStatuses       = "call_statuses"
	FieldMediaTypes         = "media_types"
)

// writableFields are the fields a client sets, in the order errors list them.
var writableFields = []string{
	FieldName, FieldURI, FieldHTTPVerb, FieldHook, FieldRetries, FieldCustomData, FieldEnabled,
	FieldFormat, FieldIncludeInternalLegs, FieldIncludeSubaccounts, FieldCallTypes, FieldCallStatuses, FieldMediaTypes,
}

// FilterFields are the list filters, each valid on one hook type only.
var FilterFields = map[string]string{
	FieldCallTypes:    event.HookCall,
	FieldCallStatuses: event.HookCall,
	FieldMediaTypes:   event.HookMedia,
}

// ReadOnlyFields are returned by the API and ignored on input, so a client
// may send back a document it has read, as Kazoo clients do.
var ReadOnlyFields = []string{"id", "created", "modified", "revision", "secret", "disable_reason", "relay"}

// Defaults and limits, documented in the README and the error messages.
const (
	DefaultRetries = 2
	// MinRetries and MaxRetries bound retries: ten retries with backoff
	// already span hours; more only delays the automatic disable.
	MinRetries    = 0
	MaxRetries    = 10
	MaxNameLength = 128
	MaxURILength  = 2048
	// Custom data is merged into every payload, so it stays small.
	MaxCustomDataKeys      = 32
	MaxCustomDataKeyLength = 64
	MaxCustomDataBytes     = 4096
)

// Document is a validated hook document with defaults applied.
type Document struct {
	Name     string
	URI      string
	HTTPVerb string
	Hook     string
	Retries  int32
	// CustomData is a compact JSON object, "{}" when none was given.
	CustomData          json.RawMessage
	Enabled             bool
	Format              string
	IncludeInternalLegs bool
	IncludeSubaccounts  bool
	// The filters are empty (= any) unless Hook is call or media; their
	// values are deduplicated and kept in vocabulary order.
	CallTypes    []string
	CallStatuses []string
	MediaTypes   []string
}

// Decode validates a hook document's fields. A field that is absent or JSON
// null takes its default (or is reported missing when required). On any
// violation the returned Document must not be used.
func Decode(fields map[string]json.RawMessage) (Document, validation.Violations) {
	d := decoder{fields: fields}
	doc := Document{
		Name:                d.name(),
		URI:                 d.uri(),
		HTTPVerb:            d.enum(FieldHTTPVerb, event.HTTPVerbs, event.DefaultHTTPVerb, false),
		Hook:                d.enum(FieldHook, event.HookTypes, "", true),
		Retries:             int32(d.integer(FieldRetries, DefaultRetries, MinRetries, MaxRetries)),
		CustomData:          d.customData(),
		Enabled:             d.boolean(FieldEnabled, true),
		Format:              d.enum(FieldFormat, event.Formats, event.DefaultFormat, false),
		IncludeInternalLegs: d.boolean(FieldIncludeInternalLegs, true),
		IncludeSubaccounts:  d.boolean(FieldIncludeSubaccounts, false),
	}
	doc.CallTypes = d.filter(FieldCallTypes, event.CallTypes, doc.Hook, event.HookCall)
	doc.CallStatuses = d.filter(FieldCallStatuses, event.CallStatuses, doc.Hook, event.HookCall)
	doc.MediaTypes = d.filter(FieldMediaTypes, event.MediaTypes, doc.Hook, event.HookMedia)
	d.rejectUnknown()
	return doc, d.v
}

type decoder struct {
	fields map[string]json.RawMessage
	v      validation.Violations
}

// raw returns a field's JSON, treating JSON null like absence.
func (d *decoder) raw(field string) (json.RawMessage, bool) {
	r, ok := d.fields[field]
	if !ok {
		return nil, false
	}
	r = bytes.TrimSpace(r)
	if len(r) == 0 || bytes.Equal(r, []byte("null")) {
		return nil, false
	}
	return r, true
}

func (d *decoder) typeError(field, want string) {
	d.v.Add(field, validation.RuleType, validation.Rule{Message: "must be " + want, Target: want})
}

// str decodes a string field; ok is false when absent or of another type.
func (d *decoder) str(field string) (string, bool) {
	r, present := d.raw(field)
	if !present {
		return "", false
	}
	var s string
	if r[0] != '"' || json.Unmarshal(r, &s) != nil {
		d.typeError(field, "a string")
		return "", false
	}
	return s, true
}

func (d *decoder) name() string {
	s, ok := d.str(FieldName)
	if !ok {
		if _, present := d.raw(FieldName); !present {
			d.v.Addf(FieldName, validation.RuleRequired, "is required: a short label for the hook")
		}
		return ""
	}
	switch {
	case strings.TrimSpace(s) == "":
		d.v.Add(FieldName, validation.RuleMinLength, validation.Rule{Message: "must not be empty or blank", Target: 1})
	case utf8.RuneCountInString(s) > MaxNameLength:
		d.v.Add(FieldName, validation.RuleMaxLength, validation.Rule{
			Message: fmt.Sprintf("must be at most %d characters", MaxNameLength), Target: MaxNameLength})
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		d.v.Addf(FieldName, validation.RuleFormat, "must not contain control characters")
	}
	return s
}

func (d *decoder) uri() string {
	s, ok := d.str(FieldURI)
	if !ok {
		if _, present := d.raw(FieldURI); !present {
			d.v.Addf(FieldURI, validation.RuleRequired, "is required: the absolute http or https URL to call")
		}
		return ""
	}
	if len(s) > MaxURILength {
		d.v.Add(FieldURI, validation.RuleMaxLength, validation.Rule{
			Message: fmt.Sprintf("must be at most %d bytes", MaxURILength), Target: MaxURILength})
		return s
	}
	if problem := CheckCallbackURI(s); problem != "" {
		d.v.Addf(FieldURI, validation.RuleFormat, "%s", problem)
	}
	return s
}

// enum decodes a string field that must be one of allowed, compared case
// insensitively and returned lower case (clients send "POST" for "post").
func (d *decoder) enum(field string, allowed []string, def string, required bool) string {
	s, ok := d.str(field)
	if !ok {
		if _, present := d.raw(field); !present {
			if required {
				d.v.Add(field, validation.RuleRequired, validation.Rule{
					Message: "is required: one of " + strings.Join(allowed, ", "), Target: allowed})
			}
			return def
		}
		return ""
	}
	lower := strings.ToLower(s)
	if !slices.Contains(allowed, lower) {
		d.v.Add(field, validation.RuleEnum, validation.Rule{
			Message: fmt.Sprintf("%s is not one of %s", quoteShort(s), strings.Join(allowed, ", ")),
			Target:  allowed,
		})
		return ""
	}
	return lower
}

func (d *decoder) boolean(field string, def bool) bool {
	r, present := d.raw(field)
	if !present {
		return def
	}
	switch string(r) {
	case "true":
		return true
	case "false":
		return false
	}
	d.typeError(field, "true or false")
	return def
}

// integer decodes a whole number within [lo, hi]. 3.0 counts as whole, as
// JSON Schema's "integer" allows.
func (d *decoder) integer(field string, def, lo, hi int) int {
	r, present := d.raw(field)
	if !present {
		return def
	}
	var f float64
	if (r[0] != '-' && (r[0] < '0' || r[0] > '9')) || json.Unmarshal(r, &f) != nil || math.Trunc(f) != f {
		d.typeError(field, "a whole number")
		return def
	}
	switch {
	case f < float64(lo):
		d.v.Add(field, validation.RuleMinimum, validation.Rule{Message: fmt.Sprintf("must be at least %d", lo), Target: lo})
	case f > float64(hi):
		d.v.Add(field, validation.RuleMaximum, validation.Rule{Message: fmt.Sprintf("must be at most %d", hi), Target: hi})
	default:
		return int(f)
	}
	return def
}

func (d *decoder) customData() json.RawMessage {
	empty := json.RawMessage("{}")
	r, present := d.raw(FieldCustomData)
	if !present {
		return empty
	}
	var obj map[string]json.RawMessage
	if r[0] != '{' || json.Unmarshal(r, &obj) != nil {
		d.typeError(FieldCustomData, "an object")
		return empty
	}
	if len(obj) > MaxCustomDataKeys {
		d.v.Add(FieldCustomData, validation.RuleMaxProperties, validation.Rule{
			Message: fmt.Sprintf("must have at most %d keys", MaxCustomDataKeys), Target: MaxCustomDataKeys})
	}
	for key := range obj {
		if key == "" || len(key) > MaxCustomDataKeyLength {
			d.v.Add(FieldCustomData, validation.RuleFormat, validation.Rule{
				Message: fmt.Sprintf("key %s must be 1 to %d bytes", quoteShort(key), MaxCustomDataKeyLength)})
		}
	}
	if bad, found := validation.FindUnstorable(r); found {
		d.v.AddUnstorable(bad, FieldCustomData)
		return empty
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, r); err != nil {
		d.typeError(FieldCustomData, "an object")
		return empty
	}
	if compact.Len() > MaxCustomDataBytes {
		d.v.Add(FieldCustomData, validation.RuleMaxSize, validation.Rule{
			Message: fmt.Sprintf("must encode to at most %d bytes of JSON", MaxCustomDataBytes), Target: MaxCustomDataBytes})
	}
	return compact.Bytes()
}

// filter decodes a list filter that only hooks of type onlyFor may carry.
// An empty list means "any" and is accepted on every hook type.
func (d *decoder) filter(field string, vocabulary []string, hook, onlyFor string) []string {
	r, present := d.raw(field)
	if !present {
		return []string{}
	}
	var items []json.RawMessage
	if r[0] != '[' || json.Unmarshal(r, &items) != nil {
		d.typeError(field, "a list of strings")
		return []string{}
	}
	chosen := map[string]bool{}
	for _, item := range items {
		var s string
		if len(item) == 0 || item[0] != '"' || json.Unmarshal(item, &s) != nil {
			d.typeError(field, "a list of strings")
			return []string{}
		}
		if !slices.Contains(vocabulary, s) {
			d.v.Add(field, validation.RuleEnum, validation.Rule{
				Message: fmt.Sprintf("%s is not one of %s", quoteShort(s), strings.Join(vocabulary, ", ")),
				Target:  vocabulary,
			})
			continue
		}
		chosen[s] = true
	}
	if len(items) > 0 && hook != "" && hook != onlyFor {
		d.v.Add(field, validation.RuleNotAllowed, validation.Rule{
			Message: fmt.Sprintf("only applies to hooks of type %q, not %q", onlyFor, hook)})
	}
	out := []string{}
	for _, s := range vocabulary {
		if chosen[s] {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) rejectUnknown() {
	for field := range d.fields {
		if slices.Contains(writableFields, field) || slices.Contains(ReadOnlyFields, field) {
			continue
		}
		d.v.Add(truncate(field, 64), validation.RuleUnknown, validation.Rule{
			Message: "is not a hook document field; the fields are " + strings.Join(writableFields, ", ")})
	}
}

func quoteShort(s string) string { return fmt.Sprintf("%q", truncate(s, 64)) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the message stays valid UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
