package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// liveFilter is the live tail's selection, as the API's stream takes it:
// status is an event's call status or an attempt's result.
type liveFilter struct {
	HookID, Status, Number string
}

func (f liveFilter) query() url.Values {
	q := url.Values{}
	for name, value := range map[string]string{"hook_id": f.HookID, "status": f.Status, "number": f.Number} {
		if value != "" {
			q.Set(name, value)
		}
	}
	return q
}

// attemptResults are the status values that select attempts by result.
var attemptResults = []string{"success", "failure"}

type livePage struct {
	Filter   liveFilter
	Hooks    []hook
	Statuses []string
	// StreamURL is the console's relay of the API's stream, for the page's
	// EventSource; the snapshot below is what a page without script shows.
	StreamURL string
	Events    []indexedEvent
	Attempts  []attempt
	// HookNotApplied says the hook filter could not be applied to the
	// snapshot of events (the search has no hook filter; the stream has).
	HookNotApplied bool
	Problem        *apiError
}

func readLiveFilter(r *http.Request) liveFilter {
	q := r.URL.Query()
	return liveFilter{HookID: q.Get("hook_id"), Status: q.Get("status"), Number: strings.TrimSpace(q.Get("number"))}
}

// liveTail is the live tail page: the account's events and deliveries as
// they happen (the page's script follows the stream), and, for a page
// without script, the latest of each as of loading it.
func (c *Console) liveTail(rq *request) {
	f := readLiveFilter(rq.r)
	hooks, err := rq.loadHooks()
	if err != nil {
		rq.fail(err)
		return
	}
	page := livePage{Filter: f, Hooks: hooks, HookNotApplied: f.HookID != "",
		StreamURL: accountURL(rq.account, "live", "stream"),
		Statuses:  append(slices.Clone(attemptResults), event.CallStatuses...)}
	if q := f.query(); len(q) > 0 {
		page.StreamURL += "?" + q.Encode()
	}
	isResult := slices.Contains(attemptResults, f.Status)
	// The snapshot applies the filters the search routes take: number and
	// an event status to events, hook and result to deliveries. Under the
	// stream's own rule, a result filter shows no events and an event
	// filter only the attempts of events shown.
	if !isResult {
		params := url.Values{"limit": {"20"}}
		if f.Status != "" {
			params.Set("status", f.Status)
		}
		if f.Number != "" {
			params.Set("number", f.Number)
		}
		var env envelope[[]indexedEvent]
		if _, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "events"), params, nil, nil, &env); err != nil {
			if page.Problem = invalid(err); page.Problem == nil {
				rq.fail(err)
				return
			}
			rq.render(http.StatusBadRequest, "live", "Live tail", page)
			return
		}
		page.Events = env.Data
	}
	if f.Number == "" && (f.Status == "" || isResult) {
		params := url.Values{"page_size": {"20"}}
		if isResult {
			params.Set("result", f.Status)
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
			rq.render(http.StatusBadRequest, "live", "Live tail", page)
			return
		}
		page.Attempts = env.Data
	}
	rq.render(http.StatusOK, "live", "Live tail", page)
}

// liveStream relays the API's Server-Sent Events stream of the account to
// the signed-in browser: the console calls the stream route in process
// with the session's token and lets it write to the browser's connection,
// so the page's EventSource is same-origin, authenticated by the session
// cookie, and never sees the token. The API's answer (a refusal as much as
// the stream) passes through as it is.
func (c *Console) liveStream(rq *request) {
	f := readLiveFilter(rq.r)
	u := "http://api.internal" + accountPath(rq.account, "stream")
	if q := f.query(); len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(rq.ctx(), http.MethodGet, u, http.NoBody)
	if err != nil {
		rq.fail(err)
		return
	}
	req.RemoteAddr = rq.r.RemoteAddr
	req.RequestURI = req.URL.RequestURI()
	req.Header.Set("Authorization", "Bearer "+rq.sess.token)
	req.Header.Set("Accept", "text/event-stream")
	c.deps.API.ServeHTTP(rq.w, req)
}
