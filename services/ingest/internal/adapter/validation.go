package adapter

import "strings"

// BodyField names problems with the input as a whole (not JSON, not an
// object, too large) rather than with one of its fields.
const BodyField = "body"

// Rule names, as Kazoo reports JSON-schema failures, so API clients see one
// vocabulary from every pbxhooks service.
const (
	RuleRequired      = "required"
	RuleType          = "type"
	RuleEnum          = "enum"
	RuleMinLength     = "minLength"
	RuleMaxLength     = "maxLength"
	RulePattern       = "pattern"
	RuleFormat        = "format"
	RuleMinimum       = "minimum"
	RuleMaximum       = "maximum"
	RuleMaxProperties = "maxProperties"
)

// FieldError is one broken rule of one field.
type FieldError struct {
	Field   string
	Rule    string
	Message string
}

// ValidationError lists every problem found in one input event, so a PBX
// developer can fix them all at once. It is permanent: resending the same
// input fails the same way.
type ValidationError struct {
	Fields []FieldError
	// AccountID is the account the rejected input belongs to when the
	// parser could tell (from a channel variable on a shared route), so its
	// dead-letter copy is filed under that account.
	AccountID string
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Message
	}
	return "invalid event: " + strings.Join(msgs, "; ")
}

// Add records a problem.
func (e *ValidationError) Add(field, rule, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Rule: rule, Message: message})
}

// OrNil returns e when it holds a problem and nil otherwise, so a parser can
// collect into a ValidationError and return it unconditionally.
func (e *ValidationError) OrNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Invalid returns a ValidationError with a single problem.
func Invalid(field, rule, message string) *ValidationError {
	e := &ValidationError{}
	e.Add(field, rule, message)
	return e
}

// Has reports whether a problem with field was already recorded, so a
// parser reading a field twice reports it once.
func (e *ValidationError) Has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}
