// Package validation holds the per-field report of bad input that every API
// error carries in its "data" member, in Kazoo's shape:
//
//	{"uri": {"format": {"message": "must use http or https"}}}
//
// A field maps to the rules it broke, each with a message a person can act
// on and, where it helps, the limit or the allowed values ("target").
package validation

import (
	"fmt"
	"slices"
	"strings"
)

// Rule names, following the JSON Schema keywords Kazoo reports.
const (
	RuleRequired      = "required"
	RuleType          = "type"
	RuleEnum          = "enum"
	RuleMinimum       = "minimum"
	RuleMaximum       = "maximum"
	RuleMinLength     = "min_length"
	RuleMaxLength     = "max_length"
	RuleMaxProperties = "max_properties"
	RuleMaxSize       = "max_size"
	RuleFormat        = "format"
	// RuleNotAllowed marks a field that is valid on its own but not in
	// combination with another (e.g. call_types on a channel_create hook).
	RuleNotAllowed = "not_allowed"
	// RuleUnknown marks a field the document does not have, so a typo such
	// as "http_method" is reported instead of silently ignored.
	RuleUnknown = "unknown"
)

// Rule is one broken rule of one field.
type Rule struct {
	Message string `json:"message"`
	// Target is the limit or the allowed values, when the rule has one.
	Target any `json:"target,omitempty"`
}

// Violations maps a field name to the rules it broke. The zero value is
// empty and ready to use.
type Violations map[string]map[string]Rule

// Add records that field broke rule. A second violation of the same rule on
// the same field (e.g. two unknown values in one list) is appended to the
// first message so neither is lost.
func (v *Violations) Add(field, rule string, r Rule) {
	if *v == nil {
		*v = Violations{}
	}
	rules := (*v)[field]
	if rules == nil {
		rules = map[string]Rule{}
		(*v)[field] = rules
	}
	if prev, ok := rules[rule]; ok {
		prev.Message += "; " + r.Message
		rules[rule] = prev
		return
	}
	rules[rule] = r
}

// Addf records a violation with only a message.
func (v *Violations) Addf(field, rule, format string, args ...any) {
	v.Add(field, rule, Rule{Message: fmt.Sprintf(format, args...)})
}

// Empty reports whether nothing was violated.
func (v Violations) Empty() bool { return len(v) == 0 }

// Summary lists "field (rule)" pairs in a stable order, for the top-level
// error message.
func (v Violations) Summary() string {
	var parts []string
	for field, rules := range v {
		names := make([]string, 0, len(rules))
		for rule := range rules {
			names = append(names, rule)
		}
		slices.Sort(names)
		parts = append(parts, field+" ("+strings.Join(names, ", ")+")")
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
