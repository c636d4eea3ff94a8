package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/eventindex"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// Filter preview bounds: how many of the account's latest indexed events a
// preview examines by default and at most.
const (
	DefaultPreviewEvents = 200
	MaxPreviewEvents     = 1000
)

// previewJSON answers POST .../webhooks/preview.
type previewJSON struct {
	// Examined is how many recent events were looked at; Matched those
	// the hook would have received, newest first.
	Examined int         `json:"examined"`
	Matched  []eventJSON `json:"matched"`
}

// previewHook answers which of the account's recent indexed events a hook
// document would have matched. The document is validated as for a create
// (400 with every violation) and nothing is stored. The test is
// event.Selection.Matches, the matcher's own rule; test-fire events are
// left out. Query limit (1 to MaxPreviewEvents) sets how many events are
// examined.
func (s *Server) previewHook(c echo.Context) error {
	examine := DefaultPreviewEvents
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxPreviewEvents {
			var v validation.Violations
			v.Add("limit", validation.RuleMaximum, validation.Rule{
				Message: fmt.Sprintf("must be a whole number from 1 to %d", MaxPreviewEvents), Target: MaxPreviewEvents})
			return errBadRequest("invalid limit: "+v.Summary(), v)
		}
		examine = n
	}
	fields, err := readData(c)
	if err != nil {
		return err
	}
	doc, violations := s.decodeHook(fields)
	if !violations.Empty() {
		return errInvalidData(violations)
	}
	sel := event.Selection{
		Hook: doc.Hook, IncludeInternalLegs: doc.IncludeInternalLegs,
		CallTypes: doc.CallTypes, CallStatuses: doc.CallStatuses, MediaTypes: doc.MediaTypes,
	}
	accountID := c.Param("account_id")
	rows, err := s.queries.ListRecentPreviewEvents(c.Request().Context(), store.ListRecentPreviewEventsParams{
		AccountID: accountID, MaxEvents: int32(examine)})
	if err != nil {
		return errInternal(fmt.Errorf("recent events of %s: %w", accountID, err))
	}
	out := previewJSON{Examined: len(rows), Matched: []eventJSON{}}
	for i := range rows {
		if sel.Matches(eventindex.SelectionEvent(&rows[i])) {
			out.Matched = append(out.Matched, renderIndexedEvent(&rows[i], false))
		}
	}
	return respond(c, http.StatusOK, envelope{Data: out})
}
