package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// timelinePage is the call timeline page: a form for a call id or thread
// id, and, once one is given, everything the API knows about that call.
type timelinePage struct {
	Call     string
	Timeline *timeline
	// HookNames names each delivery's hook (a deleted hook has no name).
	HookNames map[string]string
	// Missing says no event of the call is indexed.
	Missing bool
	Problem *apiError
}

// timelineURL is the console address of a call's timeline.
func timelineURL(accountID, call string) string {
	return accountURL(accountID, "timeline") + "?call=" + url.QueryEscape(call)
}

// callTimeline shows one call (by call id or thread id): its events as
// ingested with their status, each delivery and attempt, and its media
// with a player.
func (c *Console) callTimeline(rq *request) {
	page := timelinePage{Call: strings.TrimSpace(rq.r.URL.Query().Get("call"))}
	if page.Call == "" {
		rq.render(http.StatusOK, "timeline", "Call timeline", page)
		return
	}
	title := "Call " + page.Call
	var env envelope[timeline]
	_, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "calls", page.Call, "timeline"), nil, nil, nil, &env)
	var ae *apiError
	switch {
	case err == nil:
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound && !accountGone(ae):
		page.Missing = true
		rq.render(http.StatusNotFound, "timeline", title, page)
		return
	case invalid(err) != nil:
		page.Problem = invalid(err)
		rq.render(http.StatusBadRequest, "timeline", title, page)
		return
	default:
		rq.fail(err)
		return
	}
	page.Timeline = &env.Data
	hooks, err := rq.loadHooks()
	if err != nil {
		rq.fail(err)
		return
	}
	page.HookNames = make(map[string]string, len(hooks))
	for _, h := range hooks {
		page.HookNames[h.ID] = h.Name
	}
	rq.render(http.StatusOK, "timeline", title, page)
}

// accountGone tells the API's 404 for an unknown account from its 404 for
// a call it has no event of.
func accountGone(ae *apiError) bool {
	return strings.HasPrefix(ae.Message, "account not found")
}

// mediaSource is the address an inline player loads a media file from:
// the signed download link's path and query when it is the API's own
// media route (so the player is same-origin, whatever PUBLIC_BASE_URL
// says the API's public name is), else the link as it is.
func mediaSource(link string) string {
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/v1/media/") {
		return link
	}
	return u.RequestURI()
}
