package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/scenario"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// simulateTimeout bounds each request to ingest; a sequence has at most
// four, under the server's write timeout in all but a stalled ingest's case.
const simulateTimeout = 7 * time.Second

// simulationJSON answers a simulation.
type simulationJSON struct {
	Scenario  string         `json:"scenario"`
	CallID    string         `json:"call_id"`
	ThreadID  string         `json:"thread_id"`
	Direction string         `json:"direction"`
	Callbacks []callbackJSON `json:"callbacks"`
}

type callbackJSON struct {
	Kind      string `json:"kind"`
	Lifecycle string `json:"lifecycle,omitempty"`
	CallType  string `json:"call_type,omitempty"`
	Status    string `json:"status,omitempty"`
	MediaType string `json:"media_type,omitempty"`
}

// simulateCall runs a pkg/scenario test call for the account through
// ingest, as a PBX would send it: ingest validates and stores every step,
// so a simulated call travels exactly the path of a real one. The admin
// token authorises the API at ingest; the account is the path's, which the
// caller was already authorised for.
func (s *Server) simulateCall(c echo.Context) error {
	fields, err := readData(c)
	if err != nil {
		return err
	}
	opts, name, err := parseSimulate(fields)
	if err != nil {
		return err
	}
	seq, err := scenario.Build(name, opts)
	var invalid *scenario.InvalidError
	if errors.As(err, &invalid) {
		var v validation.Violations
		rule := validation.RuleFormat
		switch {
		case invalid.Field == "scenario" || invalid.Field == "direction":
			rule = validation.RuleEnum
		case invalid.Field == "from" && len(opts.From) > scenario.MaxPartyBytes,
			invalid.Field == "to" && len(opts.To) > scenario.MaxPartyBytes:
			rule = validation.RuleMaxLength
		}
		v.Add(invalid.Field, rule, validation.Rule{Message: invalid.Message})
		return errInvalidData(v)
	}
	if err != nil {
		return errInternal(err)
	}
	accountID := c.Param("account_id")
	if err := s.ingest.Send(c.Request().Context(), accountID, seq); err != nil {
		var refused *scenario.IngestError
		switch {
		case !errors.As(err, &refused):
			return errInternal(err)
		case refused.Status == 0, refused.Status == http.StatusServiceUnavailable, refused.Status == http.StatusTooManyRequests:
			return &Error{Status: http.StatusServiceUnavailable, Message: "ingest is not available; retry shortly (the steps it stored are deduplicated)",
				RetryAfter: recoverRetryAfter, Err: err}
		default:
			return &Error{Status: http.StatusBadGateway, Message: truncate(err.Error(), 512), Err: err}
		}
	}
	out := simulationJSON{Scenario: seq.Scenario, CallID: seq.CallID, ThreadID: seq.ThreadID, Direction: seq.Direction}
	for _, cb := range seq.Callbacks() {
		out.Callbacks = append(out.Callbacks, callbackJSON{
			Kind: cb.Kind, Lifecycle: cb.Lifecycle, CallType: cb.CallType, Status: cb.Status, MediaType: cb.MediaType,
		})
	}
	return respond(c, http.StatusAccepted, envelope{Data: out})
}

// parseSimulate reads {"scenario", "from", "to", "direction"}; Build checks
// their values.
func parseSimulate(fields map[string]json.RawMessage) (scenario.Options, string, error) {
	var (
		opts scenario.Options
		name string
		v    validation.Violations
	)
	targets := map[string]*string{"scenario": &name, "from": &opts.From, "to": &opts.To, "direction": &opts.Direction}
	for field, raw := range fields {
		target, known := targets[field]
		if !known {
			v.Add(truncate(field, 64), validation.RuleUnknown, validation.Rule{Message: "is not a simulation option; they are scenario, from, to and direction"})
			continue
		}
		if err := json.Unmarshal(raw, target); err != nil {
			v.Add(field, validation.RuleType, validation.Rule{Message: "must be a string", Target: "string"})
		}
	}
	if _, ok := fields["scenario"]; !ok {
		v.Add("scenario", validation.RuleRequired, validation.Rule{Message: fmt.Sprintf("is required: one of %v", scenario.Names), Target: scenario.Names})
	}
	if !v.Empty() {
		return opts, "", errInvalidData(v)
	}
	return opts, name, nil
}
