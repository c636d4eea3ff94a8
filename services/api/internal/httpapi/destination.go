package httpapi

import (
	"encoding/json"
	"net/url"

	"github.com/pbxhooks/pbxhooks/services/api/internal/hookdoc"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// ruleDestination names the violation of a hook URL that points at an
// address the deliverer would refuse to call.
const ruleDestination = "destination"

// decodeHook decodes and validates a hook document and, when its uri is
// otherwise valid, refuses a literal address (or localhost) in a blocked
// range at once, instead of letting every delivery fail at dial time.
// Hostnames are checked by the deliverer after DNS resolution.
func (s *Server) decodeHook(fields map[string]json.RawMessage) (hookdoc.Document, validation.Violations) {
	doc, violations := hookdoc.Decode(fields)
	if _, uriBad := violations[hookdoc.FieldURI]; uriBad || doc.URI == "" {
		return doc, violations
	}
	u, err := url.Parse(doc.URI)
	if err != nil {
		return doc, violations
	}
	if err := s.dests.CheckHost(u.Hostname()); err != nil {
		violations.Addf(hookdoc.FieldURI, ruleDestination, "%s: callbacks may not target loopback, private, link-local or metadata addresses", err)
	}
	return doc, violations
}
