package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// The account's auto-disable overrides, Kazoo's attempt_failure_count and
// attempt_failure_expiry: a hook with this many failed attempts within this
// many seconds is disabled. The bounds are the table's CHECK constraints.
const (
	fieldFailureCount  = "attempt_failure_count"
	fieldFailureExpiry = "attempt_failure_expiry_seconds"
	minFailureCount    = 1
	maxFailureCount    = 1000
	minFailureExpiry   = 1
	maxFailureExpiry   = 24 * 60 * 60
)

// deliverySettingsJSON shows the overrides; null means the deployment's
// default (the deliverer's DELIVERY_ATTEMPT_FAILURE_COUNT and _EXPIRY).
type deliverySettingsJSON struct {
	AttemptFailureCount         *int32 `json:"attempt_failure_count"`
	AttemptFailureExpirySeconds *int32 `json:"attempt_failure_expiry_seconds"`
	Modified                    string `json:"modified,omitempty"`
}

// getDeliverySettings answers the account's overrides, both null when it
// has none.
func (s *Server) getDeliverySettings(c echo.Context) error {
	ctx := c.Request().Context()
	accountID := c.Param("account_id")
	row, err := s.queries.GetAccountDeliverySettings(ctx, accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return respond(c, http.StatusOK, envelope{Data: deliverySettingsJSON{}})
	}
	if err != nil {
		return errInternal(fmt.Errorf("read delivery settings of %s: %w", accountID, err))
	}
	return respond(c, http.StatusOK, envelope{Data: renderDeliverySettings(row.AttemptFailureCount, row.AttemptFailureExpirySeconds, row.ModifiedAt)})
}

func renderDeliverySettings(count, expiry *int32, modified time.Time) deliverySettingsJSON {
	return deliverySettingsJSON{AttemptFailureCount: count, AttemptFailureExpirySeconds: expiry,
		Modified: modified.UTC().Format(time.RFC3339)}
}

// patchDeliverySettings merges the given fields into the overrides; null
// restores a field's deployment default. Deliverers pick the change up at
// once through the account's hooks.changed notice.
func (s *Server) patchDeliverySettings(c echo.Context) error {
	fields, err := readData(c)
	if err != nil {
		return err
	}
	var v validation.Violations
	for name := range fields {
		if name != fieldFailureCount && name != fieldFailureExpiry {
			v.Add(truncate(name, 64), validation.RuleUnknown, validation.Rule{
				Message: fmt.Sprintf("is not a delivery setting; they are %q and %q", fieldFailureCount, fieldFailureExpiry)})
		}
	}
	if len(fields) == 0 {
		v.Add(fieldFailureCount, validation.RuleRequired, validation.Rule{
			Message: fmt.Sprintf("give %q, %q or both", fieldFailureCount, fieldFailureExpiry)})
	}
	count, setCount := boundedSetting(&v, fields, fieldFailureCount, minFailureCount, maxFailureCount)
	expiry, setExpiry := boundedSetting(&v, fields, fieldFailureExpiry, minFailureExpiry, maxFailureExpiry)
	if !v.Empty() {
		return errInvalidData(v)
	}
	ctx := c.Request().Context()
	accountID := c.Param("account_id")
	row, err := s.queries.UpdateAccountDeliverySettings(ctx, store.UpdateAccountDeliverySettingsParams{
		AccountID: accountID, AttemptFailureCount: count, AttemptFailureExpirySeconds: expiry,
		SetCount: setCount, SetExpiry: setExpiry,
	})
	if err != nil {
		return errInternal(fmt.Errorf("update delivery settings of %s: %w", accountID, err))
	}
	s.publishAccountChange(ctx, bus.HookChange{AccountID: accountID, Change: "delivery_settings"})
	return respond(c, http.StatusOK, envelope{Data: renderDeliverySettings(row.AttemptFailureCount, row.AttemptFailureExpirySeconds, row.ModifiedAt)})
}

// boundedSetting reads an optional integer field in [lo, hi]: set is false
// when the field is absent, and the value is nil when it is null.
func boundedSetting(v *validation.Violations, fields map[string]json.RawMessage, name string, lo, hi int32) (value *int32, set bool) {
	raw, present := fields[name]
	if !present {
		return nil, false
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, true
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		v.Add(name, validation.RuleType, validation.Rule{Message: "must be an integer, or null for the deployment default", Target: "integer"})
		return nil, true
	}
	switch {
	case n < int64(lo):
		v.Add(name, validation.RuleMinimum, validation.Rule{Message: fmt.Sprintf("must be at least %d", lo), Target: lo})
	case n > int64(hi):
		v.Add(name, validation.RuleMaximum, validation.Rule{Message: fmt.Sprintf("must be at most %d", hi), Target: hi})
	default:
		n32 := int32(n)
		return &n32, true
	}
	return nil, true
}
