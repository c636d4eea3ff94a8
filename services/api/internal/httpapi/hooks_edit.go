package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/hookdoc"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// ruleConflict names a stale revision in a 409's data.
const ruleConflict = "conflict"

// maxUnconditionalRetries bounds how often an edit without a client
// revision is re-applied when another writer got in between.
const maxUnconditionalRetries = 5

// replaceHook is Kazoo's POST (edit): the body is a full document, validated
// like a create; fields it leaves out take their defaults.
func (s *Server) replaceHook(c echo.Context) error {
	fields, err := readData(c)
	if err != nil {
		return err
	}
	expected, err := clientRevision(c, fields)
	if err != nil {
		return err
	}
	doc, violations := s.decodeHook(fields)
	hook, err := s.updateHook(c, expected, func(store.Hook) (hookdoc.Document, error) {
		if !violations.Empty() {
			return doc, errInvalidData(violations)
		}
		return doc, nil
	})
	if err != nil {
		return err
	}
	return respondHook(c, hook, false)
}

// patchHook merges a partial document into the stored one, then validates
// the result like a create: {"data":{"enabled":true}} re-enables a hook and
// clears its disable_reason.
func (s *Server) patchHook(c echo.Context) error {
	patch, err := readData(c)
	if err != nil {
		return err
	}
	expected, err := clientRevision(c, patch)
	if err != nil {
		return err
	}
	hook, err := s.updateHook(c, expected, func(stored store.Hook) (hookdoc.Document, error) {
		current, err := hookFields(stored)
		if err != nil {
			return hookdoc.Document{}, errInternal(err)
		}
		doc, violations := s.decodeHook(hookdoc.Merge(current, patch))
		if !violations.Empty() {
			return doc, errInvalidData(violations)
		}
		return doc, nil
	})
	if err != nil {
		return err
	}
	return respondHook(c, hook, false)
}

// updateHook loads the path's hook, builds the new document from it and
// writes it only if nobody changed the hook in between (UPDATE ... WHERE
// revision = loaded revision). With a client revision, any difference is a
// 409. Without one the client asked for last-writer-wins, so a lost race
// reloads and re-applies, a bounded number of times.
func (s *Server) updateHook(c echo.Context, expected *int64, build func(store.Hook) (hookdoc.Document, error)) (store.Hook, error) {
	ctx := c.Request().Context()
	for range maxUnconditionalRetries {
		stored, err := s.loadHook(c)
		if err != nil {
			return store.Hook{}, err
		}
		if expected != nil && stored.Revision != *expected {
			return store.Hook{}, errStaleRevision(*expected, stored.Revision)
		}
		if stored.RelayLeaseExpiresAt != nil {
			// Its uri and filter are what its listener asked for and
			// forwards to; an edit here would not reach the listener.
			return store.Hook{}, &Error{Status: http.StatusConflict,
				Message: "a relay hook belongs to its `pbxhooks listen` connection: reconnect with another filter instead"}
		}
		doc, err := build(stored)
		if err != nil {
			return store.Hook{}, err
		}
		hook, err := s.queries.UpdateHook(ctx, store.UpdateHookParams{
			AccountID:           stored.AccountID,
			ID:                  stored.ID,
			ExpectedRevision:    stored.Revision,
			Name:                doc.Name,
			Uri:                 doc.URI,
			HttpVerb:            doc.HTTPVerb,
			Hook:                doc.Hook,
			Retries:             doc.Retries,
			CustomData:          doc.CustomData,
			Enabled:             doc.Enabled,
			Format:              doc.Format,
			IncludeInternalLegs: doc.IncludeInternalLegs,
			IncludeSubaccounts:  doc.IncludeSubaccounts,
			CallTypes:           doc.CallTypes,
			CallStatuses:        doc.CallStatuses,
			MediaTypes:          doc.MediaTypes,
		})
		if store.IsNotFound(err) {
			if expected != nil {
				// Changed (or deleted) between our read and our write.
				return store.Hook{}, s.conflictOrGone(c, *expected)
			}
			continue
		}
		if err != nil {
			return store.Hook{}, errInternal(fmt.Errorf("update hook %s of %s: %w", stored.ID, stored.AccountID, err))
		}
		s.publishHooksChanged(ctx, hook, "updated")
		return hook, nil
	}
	return store.Hook{}, &Error{Status: http.StatusConflict,
		Message: "the webhook kept changing while this edit was applied; read it again and retry"}
}

// deleteHook removes the hook and answers 200 with what was deleted.
// A revision (If-Match, or data.revision in an optional body) makes the
// delete conditional.
func (s *Server) deleteHook(c echo.Context) error {
	fields, err := readOptionalData(c)
	if err != nil {
		return err
	}
	expected, err := clientRevision(c, fields)
	if err != nil {
		return err
	}
	stored, err := s.loadHook(c)
	if err != nil {
		return err
	}
	hook, err := s.queries.DeleteHook(c.Request().Context(), store.DeleteHookParams{
		AccountID: stored.AccountID, ID: stored.ID, ExpectedRevision: expected})
	if store.IsNotFound(err) {
		if expected == nil {
			return errNotFound("webhook not found: " + stored.ID)
		}
		return s.conflictOrGone(c, *expected)
	}
	if err != nil {
		return errInternal(fmt.Errorf("delete hook %s of %s: %w", stored.ID, stored.AccountID, err))
	}
	s.publishHooksChanged(c.Request().Context(), hook, "deleted")
	return respondHook(c, hook, false)
}

// rotateSecret replaces the signing secret. The old one moves to
// previous_secret and keeps signing beside the new one for the configured
// overlap, so receivers can switch without rejecting deliveries; a second
// rotation within the overlap retires the first secret at once.
func (s *Server) rotateSecret(c echo.Context) error {
	fields, err := readOptionalData(c)
	if err != nil {
		return err
	}
	expected, err := clientRevision(c, fields)
	if err != nil {
		return err
	}
	stored, err := s.loadHook(c)
	if err != nil {
		return err
	}
	secret, err := newSecret()
	if err != nil {
		return errInternal(err)
	}
	ctx := c.Request().Context()
	previousExpiresAt := time.Now().Add(s.overlap)
	hook, err := s.queries.RotateHookSecret(ctx, store.RotateHookSecretParams{
		AccountID: stored.AccountID, ID: stored.ID, ExpectedRevision: expected,
		Secret: secret, PreviousExpiresAt: &previousExpiresAt,
	})
	if store.IsNotFound(err) {
		if expected == nil {
			return errNotFound("webhook not found: " + stored.ID)
		}
		return s.conflictOrGone(c, *expected)
	}
	if err != nil {
		return errInternal(fmt.Errorf("rotate secret of hook %s: %w", stored.ID, err))
	}
	s.publishHooksChanged(ctx, hook, "secret_rotated")
	return respondHook(c, hook, true)
}

// hookSecretJSON is the answer of GET .../secret.
type hookSecretJSON struct {
	Secret                  string `json:"secret"`
	PreviousSecretExpiresAt string `json:"previous_secret_expires_at,omitempty"`
}

// revealSecret shows the current signing secret, so an operator who lost
// it need not rotate (and make every receiver switch). The answer is a
// credential: no-store keeps it out of every cache between here and the
// reader. The expiry is shown only while the rotated-out secret still
// signs; after that it is history, not something a receiver must accept.
func (s *Server) revealSecret(c echo.Context) error {
	stored, err := s.loadHook(c)
	if err != nil {
		return err
	}
	out := hookSecretJSON{Secret: stored.Secret}
	if expires := stored.PreviousSecretExpiresAt; expires != nil && expires.After(time.Now()) {
		out.PreviousSecretExpiresAt = timestamp(*expires)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return respond(c, http.StatusOK, envelope{Data: out})
}

// reenableHooks is the bulk PATCH {"data":{"re-enable":true}}: it
// re-enables the account's hooks that the deliverer disabled automatically
// (they carry a disable_reason) and answers with them. Hooks a person
// disabled stay disabled.
func (s *Server) reenableHooks(c echo.Context) error {
	fields, err := readData(c)
	if err != nil {
		return err
	}
	const field = "re-enable"
	var v validation.Violations
	for name := range fields {
		if name != field {
			v.Add(truncate(name, 64), validation.RuleUnknown, validation.Rule{
				Message: `is not a bulk action; the only one is "re-enable": true`})
		}
	}
	raw, ok := fields[field]
	switch {
	case !ok:
		v.Add(field, validation.RuleRequired, validation.Rule{Message: `is required: {"data":{"re-enable":true}}`})
	case !bytes.Equal(bytes.TrimSpace(raw), []byte("true")):
		v.Add(field, validation.RuleEnum, validation.Rule{Message: "must be true", Target: []bool{true}})
	}
	if !v.Empty() {
		return errInvalidData(v)
	}
	ctx := c.Request().Context()
	accountID := c.Param("account_id")
	hooks, err := s.queries.ReenableAutoDisabledHooks(ctx, accountID)
	if err != nil {
		return errInternal(fmt.Errorf("re-enable hooks of %s: %w", accountID, err))
	}
	out := make([]hookJSON, 0, len(hooks))
	for _, h := range hooks {
		s.publishHooksChanged(ctx, h, "re-enabled")
		out = append(out, renderHook(h, false))
	}
	return respond(c, http.StatusOK, envelope{Data: out})
}

func respondHook(c echo.Context, hook store.Hook, withSecret bool) error {
	return respond(c, http.StatusOK, envelope{Data: renderHook(hook, withSecret), Revision: strconv.FormatInt(hook.Revision, 10)})
}

// conflictOrGone explains a conditional write that matched no row: the hook
// was deleted (404) or its revision moved on (409).
func (s *Server) conflictOrGone(c echo.Context, expected int64) error {
	current, err := s.loadHook(c)
	if err != nil {
		return err
	}
	return errStaleRevision(expected, current.Revision)
}

func errStaleRevision(expected, current int64) *Error {
	var v validation.Violations
	v.Add("revision", ruleConflict, validation.Rule{
		Message: fmt.Sprintf("revision %d is stale; the webhook is at revision %d: read it again and reapply the change", expected, current),
		Target:  current,
	})
	return &Error{Status: http.StatusConflict,
		Message: fmt.Sprintf("conflict: the webhook was changed since revision %d", expected), Data: v}
}

// clientRevision reads the revision an edit is conditional on: the
// If-Match header (an ETag from a previous answer, "3" or 3) or the
// document's revision member. Neither means unconditional; both must agree.
func clientRevision(c echo.Context, fields map[string]json.RawMessage) (*int64, error) {
	var v validation.Violations
	var fromHeader, fromBody *int64
	if raw := strings.TrimSpace(c.Request().Header.Get("If-Match")); raw != "" && raw != "*" {
		n, ok := parseRevision(strings.Trim(strings.TrimPrefix(raw, "W/"), `"`))
		if ok {
			fromHeader = &n
		} else {
			v.Addf("If-Match", validation.RuleFormat, "must be a revision as returned in ETag, such as \"3\"")
		}
	}
	if raw, ok := fields["revision"]; ok {
		raw = bytes.TrimSpace(raw)
		var text string
		switch {
		case bytes.Equal(raw, []byte("null")):
		case len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &text) == nil:
			n, ok := parseRevision(text)
			if ok {
				fromBody = &n
			} else {
				v.Add("revision", validation.RuleType, validation.Rule{Message: "must be a positive whole number", Target: "a positive whole number"})
			}
		default:
			n, ok := parseRevision(string(raw))
			if ok {
				fromBody = &n
			} else {
				v.Add("revision", validation.RuleType, validation.Rule{Message: "must be a positive whole number", Target: "a positive whole number"})
			}
		}
	}
	if fromHeader != nil && fromBody != nil && *fromHeader != *fromBody {
		v.Addf("revision", validation.RuleNotAllowed, "is %d but If-Match says %d; send one or make them agree", *fromBody, *fromHeader)
	}
	if !v.Empty() {
		return nil, errBadRequest("invalid revision: "+v.Summary(), v)
	}
	if fromHeader != nil {
		return fromHeader, nil
	}
	return fromBody, nil
}

func parseRevision(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 1
}

// readOptionalData is readData for routes whose body may be absent
// (DELETE, secret rotation): no body, or only white space, reads as no
// fields.
func readOptionalData(c echo.Context) (map[string]json.RawMessage, error) {
	body, err := readBody(c)
	if err != nil || len(body) == 0 {
		return nil, err
	}
	return parseData(body)
}

// hookFields is the stored hook as a document's fields, the base a PATCH is
// merged onto.
func hookFields(h store.Hook) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(renderHook(h, false))
	if err != nil {
		return nil, fmt.Errorf("render hook %s: %w", h.ID, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("render hook %s: %w", h.ID, err)
	}
	return fields, nil
}
