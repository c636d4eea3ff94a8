package httpapi

import (
	"encoding/json"
	"errors"
	"net/url"

	"github.com/pbxhooks/pbxhooks/pkg/netguard"
	"github.com/pbxhooks/pbxhooks/services/api/internal/hookdoc"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// ruleDestination names the violation of a hook URL that points at an
// address the deliverer would refuse to call.
const ruleDestination = "destination"

// decodeHook decodes and validates a hook document and, when its uri is
// otherwise valid, refuses an address (or localhost) in a blocked range at
// once, instead of letting every delivery fail at dial time. The address
// may be spelled any way a resolver reads one ("10.1", "0xa000001"); a host
// that ends in a number but is no address is malformed, never looked up.
// Names are checked by the deliverer after DNS resolution.
func (s *Server) decodeHook(fields map[string]json.RawMessage) (hookdoc.Document, validation.Violations) {
	doc, violations := hookdoc.Decode(fields)
	if _, uriBad := violations[hookdoc.FieldURI]; uriBad || doc.URI == "" {
		return doc, violations
	}
	u, err := url.Parse(doc.URI)
	if err != nil {
		return doc, violations
	}
	err = s.dests.CheckHost(u.Hostname())
	var refused *netguard.RefusedError
	switch {
	case errors.As(err, &refused):
		violations.Addf(hookdoc.FieldURI, ruleDestination, "host %s is %s: callbacks may not target loopback, private, link-local or metadata addresses",
			truncate(u.Hostname(), 64), refused)
	case err != nil:
		violations.Addf(hookdoc.FieldURI, validation.RuleFormat, "has an invalid host: %s", truncate(err.Error(), 200))
	}
	return doc, violations
}
