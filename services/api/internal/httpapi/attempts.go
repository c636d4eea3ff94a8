package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/api/internal/validation"
)

// Attempt paging bounds.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// attemptJSON is one callback attempt as the API shows it.
type attemptJSON struct {
	ID          string               `json:"id"`
	HookID      string               `json:"hook_id"`
	EventID     string               `json:"event_id"`
	DeliveryID  string               `json:"delivery_id"`
	Attempt     int32                `json:"attempt"`
	RetriesLeft int32                `json:"retries_left"`
	Result      string               `json:"result"`
	Reason      string               `json:"reason"`
	Request     attemptRequestJSON   `json:"request"`
	Response    *attemptResponseJSON `json:"response,omitempty"`
	ClientError string               `json:"client_error,omitempty"`
	LatencyMs   int32                `json:"latency_ms"`
	Timestamp   string               `json:"timestamp"`
}

type attemptRequestJSON struct {
	Method  string          `json:"method"`
	URL     string          `json:"url"`
	Headers json.RawMessage `json:"headers"`
}

// attemptResponseJSON is absent when no response came (see client_error).
type attemptResponseJSON struct {
	Status  int32           `json:"status"`
	Headers json.RawMessage `json:"headers"`
	Body    string          `json:"body"`
}

func renderAttempt(a store.Attempt) attemptJSON {
	out := attemptJSON{
		ID:          strconv.FormatInt(a.ID, 10),
		HookID:      a.HookID,
		EventID:     a.EventID,
		DeliveryID:  a.DeliveryID,
		Attempt:     a.Attempt,
		RetriesLeft: a.RetriesLeft,
		Result:      a.Result,
		Reason:      a.Reason,
		Request:     attemptRequestJSON{Method: a.RequestMethod, URL: a.RequestUrl, Headers: jsonObject(a.RequestHeaders)},
		LatencyMs:   a.LatencyMs,
		Timestamp:   timestamp(a.CreatedAt),
	}
	if a.ResponseStatus != nil {
		out.Response = &attemptResponseJSON{Status: *a.ResponseStatus, Headers: jsonObject(a.ResponseHeaders)}
		if a.ResponseBody != nil {
			out.Response.Body = *a.ResponseBody
		}
	}
	if a.ClientError != nil {
		out.ClientError = *a.ClientError
	}
	return out
}

func jsonObject(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}

// page is a parsed page request. startKey is an attempt id; the page holds
// that attempt and older ones. 0 means "from the newest".
type page struct {
	size     int
	startKey int64
}

// beforeID is the exclusive upper bound of the page's keyset query
// ("id < before_id"): the start key itself belongs on the page. 0 means
// from the newest.
func (p page) beforeID() int64 {
	if p.startKey > 0 {
		return p.startKey + 1
	}
	return 0
}

// respondPage answers one page of rows fetched newest first and one past the
// page size, so next_start_key is present exactly when another page exists.
func respondPage[Row, Doc any](c echo.Context, p page, rows []Row, id func(*Row) int64, render func(*Row) Doc) error {
	env := envelope{}
	if len(rows) > p.size {
		env.NextStartKey = strconv.FormatInt(id(&rows[p.size]), 10)
		rows = rows[:p.size]
	}
	if p.startKey > 0 {
		env.StartKey = strconv.FormatInt(p.startKey, 10)
	}
	out := make([]Doc, 0, len(rows))
	for i := range rows {
		out = append(out, render(&rows[i]))
	}
	n := len(out)
	env.PageSize = &n
	env.Data = out
	return respond(c, http.StatusOK, env)
}

// parsePage reads page_size and start_key. Keys are opaque strings to
// clients (today the decimal attempt id), so the format may change.
func parsePage(c echo.Context) (page, error) {
	return parsePageWithin(c, DefaultPageSize, MaxPageSize)
}

// parsePageWithin is parsePage with the given default and maximum size.
func parsePageWithin(c echo.Context, defaultSize, maxSize int) (page, error) {
	p := page{size: defaultSize}
	var v validation.Violations
	if raw := c.QueryParam("page_size"); raw != "" {
		n, err := strconv.Atoi(raw)
		switch {
		case err != nil:
			v.Add("page_size", validation.RuleType, validation.Rule{Message: "must be a whole number", Target: "a whole number"})
		case n < 1:
			v.Add("page_size", validation.RuleMinimum, validation.Rule{Message: "must be at least 1", Target: 1})
		case n > maxSize:
			v.Add("page_size", validation.RuleMaximum, validation.Rule{Message: fmt.Sprintf("must be at most %d", maxSize), Target: maxSize})
		default:
			p.size = n
		}
	}
	if raw := c.QueryParam("start_key"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 || n == math.MaxInt64 {
			v.Addf("start_key", validation.RuleFormat, "must be a next_start_key from a previous page")
		} else {
			p.startKey = n
		}
	}
	if !v.Empty() {
		return p, errBadRequest("invalid paging parameters: "+v.Summary(), v)
	}
	return p, nil
}

// attemptFilter is the optional selection of GET .../attempts: created in
// [from, to), and one result.
type attemptFilter struct {
	from, to *time.Time
	result   *string
}

// Attempt results a filter accepts.
var attemptResults = []string{"success", "failure"}

// parseAttemptFilter reads from, to (RFC 3339) and result.
func parseAttemptFilter(c echo.Context) (attemptFilter, error) {
	var f attemptFilter
	var v validation.Violations
	f.from, f.to = parseTimeParam(c, "from", &v), parseTimeParam(c, "to", &v)
	if f.from != nil && f.to != nil && !f.to.After(*f.from) {
		v.Add("to", validation.RuleMinimum, validation.Rule{Message: "must be after from", Target: f.from.UTC().Format(time.RFC3339)})
	}
	if raw := c.QueryParam("result"); raw != "" {
		if slices.Contains(attemptResults, raw) {
			f.result = &raw
		} else {
			v.Add("result", validation.RuleEnum, validation.Rule{
				Message: fmt.Sprintf("%q is not one of %s", truncate(raw, 32), strings.Join(attemptResults, ", ")), Target: attemptResults})
		}
	}
	if !v.Empty() {
		return f, errBadRequest("invalid attempt filter: "+v.Summary(), v)
	}
	return f, nil
}

// listAccountAttempts pages through the account's attempts, newest first.
func (s *Server) listAccountAttempts(c echo.Context) error {
	return s.listAttempts(c, nil)
}

// listHookAttempts pages through one hook's attempts; 404 when the hook is
// not in the path's account.
func (s *Server) listHookAttempts(c echo.Context) error {
	hook, err := s.loadHook(c)
	if err != nil {
		return err
	}
	return s.listAttempts(c, &hook.ID)
}

// listAttempts fetches one row more than the page to learn whether another
// page exists, so next_start_key is absent exactly on the last page. The
// filters apply to every page: a client sends them again with start_key.
func (s *Server) listAttempts(c echo.Context, hookID *string) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	f, err := parseAttemptFilter(c)
	if err != nil {
		return err
	}
	accountID := c.Param("account_id")
	params := store.ListAttemptsFilteredParams{
		AccountID: accountID, HookID: hookID, PageSize: int32(p.size + 1), BeforeID: p.beforeID(),
		FromTime: f.from, ToTime: f.to, Result: f.result,
	}
	rows, err := s.queries.ListAttemptsFiltered(c.Request().Context(), params)
	if err != nil {
		return errInternal(fmt.Errorf("list attempts of %s: %w", accountID, err))
	}
	return respondPage(c, p, rows, func(a *store.Attempt) int64 { return a.ID },
		func(a *store.Attempt) attemptJSON { return renderAttempt(*a) })
}
