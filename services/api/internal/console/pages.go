package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// deliveryFilter is the deliveries page's query, as the attempts route
// takes it (times from the browser's datetime-local fields, read as UTC).
type deliveryFilter struct {
	HookID, Result, From, To, StartKey string
	// Call (a call id or thread id) or Number (from or to) select the
	// deliveries of matching calls, through the events index.
	Call, Number string
}

type deliveriesPage struct {
	Filter   deliveryFilter
	Hooks    []hook
	Attempts []attempt
	Next     string
	NextURL  string
	Problem  *apiError
	// Calls are the calls a call id or number search found, newest first.
	Calls []string
	// MoreCalls says the number matched more calls than the page searched.
	MoreCalls bool
}

// datetimeLocal is the HTML datetime-local format; the console reads it as UTC.
const datetimeLocal = "2006-01-02T15:04"

// deliveries lists attempts, newest first, filtered by hook, result and
// time, each with its request and response.
func (c *Console) deliveries(rq *request) {
	q := rq.r.URL.Query()
	f := deliveryFilter{HookID: q.Get("hook_id"), Result: q.Get("result"), From: q.Get("from"), To: q.Get("to"), StartKey: q.Get("start_key"),
		Call: strings.TrimSpace(q.Get("call")), Number: strings.TrimSpace(q.Get("number"))}
	hooks, err := rq.loadHooks()
	if err != nil {
		rq.fail(err)
		return
	}
	page := deliveriesPage{Filter: f, Hooks: hooks}
	if f.Call != "" || f.Number != "" {
		c.callDeliveries(rq, &page)
		return
	}
	params := url.Values{"page_size": {"50"}}
	for name, value := range map[string]string{"result": f.Result, "start_key": f.StartKey} {
		if value != "" {
			params.Set(name, value)
		}
	}
	for name, value := range map[string]string{"from": f.From, "to": f.To} {
		if value == "" {
			continue
		}
		// A datetime-local value becomes RFC 3339 in UTC; anything else
		// is passed on for the API to judge.
		if t, err := time.Parse(datetimeLocal, value); err == nil {
			value = t.UTC().Format(time.RFC3339)
		}
		params.Set(name, value)
	}
	path := accountPath(rq.account, "webhooks", "attempts")
	if f.HookID != "" {
		path = accountPath(rq.account, "webhooks", f.HookID, "attempts")
	}
	var env envelope[[]attempt]
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, path, params, nil, nil, &env); err != nil {
		if page.Problem = invalid(err); page.Problem == nil {
			rq.fail(err)
			return
		}
		rq.render(http.StatusBadRequest, "deliveries", "Deliveries", page)
		return
	}
	page.Attempts = env.Data
	if env.NextStartKey != "" {
		next := url.Values{}
		for k, v := range map[string]string{"hook_id": f.HookID, "result": f.Result, "from": f.From, "to": f.To, "start_key": env.NextStartKey} {
			if v != "" {
				next.Set(k, v)
			}
		}
		page.NextURL = accountURL(rq.account, "deliveries") + "?" + next.Encode()
	}
	rq.render(http.StatusOK, "deliveries", "Deliveries", page)
}

// maxSearchedCalls bounds how many calls a number search opens.
const maxSearchedCalls = 10

// callDeliveries is the deliveries page searched by call id or number:
// the calls are found in the events index (the events search), and each
// call's timeline gives its deliveries' attempts, newest first, narrowed
// to the page's hook and result.
func (c *Console) callDeliveries(rq *request, page *deliveriesPage) {
	f := page.Filter
	calls := []string{}
	if f.Call != "" {
		calls = append(calls, f.Call)
	} else {
		params := url.Values{"number": {f.Number}, "limit": {"100"}}
		var env envelope[[]indexedEvent]
		if _, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "events"), params, nil, nil, &env); err != nil {
			if page.Problem = invalid(err); page.Problem == nil {
				rq.fail(err)
				return
			}
			rq.render(http.StatusBadRequest, "deliveries", "Deliveries", page)
			return
		}
		for _, ev := range env.Data {
			if ev.CallID == "" || slices.Contains(calls, ev.CallID) {
				continue
			}
			if len(calls) == maxSearchedCalls {
				page.MoreCalls = true
				break
			}
			calls = append(calls, ev.CallID)
		}
	}
	for _, call := range calls {
		var env envelope[timeline]
		_, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "calls", call, "timeline"), nil, nil, nil, &env)
		var ae *apiError
		switch {
		case err == nil:
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound && !accountGone(ae):
			continue // no event of this call is indexed
		case invalid(err) != nil:
			page.Problem = invalid(err)
			rq.render(http.StatusBadRequest, "deliveries", "Deliveries", page)
			return
		default:
			rq.fail(err)
			return
		}
		page.Calls = append(page.Calls, call)
		for _, d := range env.Data.Deliveries {
			for _, a := range d.Attempts {
				if (f.HookID == "" || a.HookID == f.HookID) && (f.Result == "" || a.Result == f.Result) {
					page.Attempts = append(page.Attempts, a)
				}
			}
		}
	}
	sort.SliceStable(page.Attempts, func(i, j int) bool { return page.Attempts[i].Timestamp > page.Attempts[j].Timestamp })
	rq.render(http.StatusOK, "deliveries", "Deliveries", page)
}

// prettyJSON indents a JSON document for display, or returns it as it is.
func prettyJSON(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		return string(raw)
	}
	return buf.String()
}

type deadLettersPage struct {
	Letters []deadLetter
	NextURL string
}

func (c *Console) deadLetters(rq *request) {
	params := url.Values{}
	if key := rq.r.URL.Query().Get("start_key"); key != "" {
		params.Set("start_key", key)
	}
	var env envelope[[]deadLetter]
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "events", "deadletter"), params, nil, nil, &env); err != nil {
		rq.fail(err)
		return
	}
	page := deadLettersPage{Letters: env.Data}
	if env.NextStartKey != "" {
		page.NextURL = accountURL(rq.account, "dead-letters") + "?start_key=" + url.QueryEscape(env.NextStartKey)
	}
	rq.render(http.StatusOK, "deadletters", "Dead letters", page)
}

type settingsPage struct {
	Count, Expiry string
	Modified      string
	Problem       *apiError
}

func (c *Console) settingsForm(rq *request) {
	var env envelope[deliverySettings]
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "delivery_settings"), nil, nil, nil, &env); err != nil {
		rq.fail(err)
		return
	}
	page := settingsPage{Modified: env.Data.Modified}
	if n := env.Data.AttemptFailureCount; n != nil {
		page.Count = strconv.Itoa(int(*n))
	}
	if n := env.Data.AttemptFailureExpirySeconds; n != nil {
		page.Expiry = strconv.Itoa(int(*n))
	}
	rq.render(http.StatusOK, "settings", "Delivery settings", page)
}

// saveSettings sends the auto-disable rule; an empty field restores the
// deployment's default (null).
func (c *Console) saveSettings(rq *request) {
	page := settingsPage{Count: strings.TrimSpace(rq.r.PostForm.Get("attempt_failure_count")),
		Expiry: strings.TrimSpace(rq.r.PostForm.Get("attempt_failure_expiry_seconds"))}
	doc := map[string]any{}
	for field, value := range map[string]string{"attempt_failure_count": page.Count, "attempt_failure_expiry_seconds": page.Expiry} {
		switch n, err := strconv.Atoi(value); {
		case value == "":
			doc[field] = nil
		case err == nil:
			doc[field] = n
		default:
			doc[field] = value
		}
	}
	if _, err := rq.api.call(rq.ctx(), http.MethodPatch, accountPath(rq.account, "delivery_settings"), nil, doc, nil, nil); err != nil {
		if page.Problem = invalid(err); page.Problem == nil {
			rq.fail(err)
			return
		}
		rq.render(http.StatusBadRequest, "settings", "Delivery settings", page)
		return
	}
	rq.redirect("settings", "Delivery settings saved.")
}

type tokensPage struct {
	Tokens  []apiToken
	Created *apiToken
	Problem *apiError
	Name    string
}

func (rq *request) loadTokens() ([]apiToken, error) {
	var env envelope[[]apiToken]
	_, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "tokens"), nil, nil, nil, &env)
	return env.Data, err
}

// listTokens is the admin's token page (the API refuses it to account tokens).
func (c *Console) listTokens(rq *request) {
	tokens, err := rq.loadTokens()
	if accountMissing(err) {
		// The admin's first token creates the account.
		tokens, err = nil, nil
	}
	if err != nil {
		rq.fail(err)
		return
	}
	rq.render(http.StatusOK, "tokens", "API tokens", tokensPage{Tokens: tokens})
}

// createToken shows the new token once, in the answer to the post.
func (c *Console) createToken(rq *request) {
	name := rq.r.PostForm.Get("name")
	scopes := rq.r.PostForm["scopes"]
	if len(scopes) == 0 {
		scopes = []string{"api"}
	}
	var env envelope[apiToken]
	_, err := rq.api.call(rq.ctx(), http.MethodPut, accountPath(rq.account, "tokens"), nil,
		map[string]any{"name": name, "scopes": scopes}, nil, &env)
	page := tokensPage{Name: name}
	status := http.StatusOK
	if err != nil {
		if page.Problem = invalid(err); page.Problem == nil {
			rq.fail(err)
			return
		}
		status = http.StatusBadRequest
	} else {
		page.Created, page.Name = &env.Data, ""
	}
	if page.Tokens, err = rq.loadTokens(); err != nil && !accountMissing(err) {
		rq.fail(err)
		return
	}
	rq.render(status, "tokens", "API tokens", page)
}

func (c *Console) revokeToken(rq *request) {
	if _, err := rq.api.call(rq.ctx(), http.MethodDelete, accountPath(rq.account, "tokens", rq.r.PathValue("token")), nil, nil, nil, nil); err != nil {
		rq.fail(err)
		return
	}
	rq.redirect("tokens", "Token revoked.")
}
