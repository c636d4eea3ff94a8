package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// hookRow is one line of the webhooks list.
type hookRow struct {
	hook
	Kind  string
	State string
	Last  *attempt
}

// hookState is "active", "failing" (enabled but its last attempt failed,
// or disabled by the deliverer after failures) or "disabled".
func hookState(h hook, last *attempt) string {
	switch {
	case h.DisableReason != "":
		return "failing"
	case !h.Enabled:
		return "disabled"
	case last != nil && last.Result != "success":
		return "failing"
	}
	return "active"
}

// hookKind names a hook's family the way its form does.
func hookKind(h hook) string {
	switch h.Hook {
	case event.HookCall:
		return "call"
	case event.HookMedia:
		return "media"
	}
	return "kazoo"
}

func (rq *request) loadHooks() ([]hook, error) {
	var env envelope[[]hook]
	_, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "webhooks"), nil, nil, nil, &env)
	return env.Data, err
}

// lastAttempt is a hook's newest attempt, nil when it has none.
func (rq *request) lastAttempt(hookID string) (*attempt, error) {
	var env envelope[[]attempt]
	_, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "webhooks", hookID, "attempts"),
		url.Values{"page_size": {"1"}}, nil, nil, &env)
	if err != nil || len(env.Data) == 0 {
		return nil, err
	}
	return &env.Data[0], nil
}

type hookList struct {
	Rows                      []hookRow
	Query                     string
	Active, Disabled, Failing int
	Total                     int
	AutoDisabled              int
}

// listHooks is the webhooks page: Kazoo and Spoke hooks together, with
// their state and last delivery result, searchable by name, URL, event or id.
func (c *Console) listHooks(rq *request) {
	hooks, err := rq.loadHooks()
	if accountMissing(err) {
		// The admin opened an account that does not exist yet; its
		// first hook creates it.
		hooks, err = nil, nil
	}
	if err != nil {
		rq.fail(err)
		return
	}
	list := hookList{Query: strings.TrimSpace(rq.r.URL.Query().Get("q")), Total: len(hooks)}
	needle := strings.ToLower(list.Query)
	for _, h := range hooks {
		last, err := rq.lastAttempt(h.ID)
		if err != nil {
			rq.fail(err)
			return
		}
		row := hookRow{hook: h, Kind: hookKind(h), Last: last, State: hookState(h, last)}
		switch row.State {
		case "active":
			list.Active++
		case "disabled":
			list.Disabled++
		case "failing":
			list.Failing++
		}
		if h.DisableReason != "" {
			list.AutoDisabled++
		}
		haystack := strings.ToLower(strings.Join([]string{h.Name, h.URI, h.Hook, h.ID, row.State,
			strings.Join(h.CallTypes, " "), strings.Join(h.CallStatuses, " "), strings.Join(h.MediaTypes, " ")}, " "))
		if needle == "" || strings.Contains(haystack, needle) {
			list.Rows = append(list.Rows, row)
		}
	}
	sort.SliceStable(list.Rows, func(i, j int) bool { return strings.ToLower(list.Rows[i].Name) < strings.ToLower(list.Rows[j].Name) })
	rq.render(http.StatusOK, "webhooks", "Webhooks", list)
}

// reenableHooks is the API's bulk re-enable of auto-disabled hooks.
func (c *Console) reenableHooks(rq *request) {
	var env envelope[[]hook]
	_, err := rq.api.call(rq.ctx(), http.MethodPatch, accountPath(rq.account, "webhooks"), nil,
		map[string]any{"re-enable": true}, nil, &env)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.redirect("webhooks", strconv.Itoa(len(env.Data))+" hook(s) re-enabled.")
}

// hookForm is the add and edit form of the three hook families.
type hookForm struct {
	Kind, Title    string
	ID             string
	Revision       int64
	Name, URI      string
	HTTPVerb       string
	Format         string
	Hook           string
	Retries        string
	CustomData     string
	Enabled        bool
	InternalLegs   bool
	Chosen         map[string]bool
	Catalogue      []hookType
	KazooTypes     []hookType
	Verbs, Formats []string
	Problem        *apiError
	Conflict       bool
	// Preview is the API's filter preview of the form, when asked for.
	Preview *preview
}

// Filter returns the catalogue's values for one filter of the form's type.
func (f hookForm) Filter(field string) []string {
	for _, t := range f.Catalogue {
		if filter, ok := t.Filters[field]; ok {
			return filter.Values
		}
	}
	return nil
}

// Checked reports whether a filter value is chosen ("field:value").
func (f hookForm) Checked(field, value string) bool { return f.Chosen[field+":"+value] }

// FieldProblems lists the API's messages for one field.
func (f hookForm) FieldProblems(field string) []string {
	if f.Problem == nil {
		return nil
	}
	return f.Problem.Fields[field]
}

var kindTitles = map[string]string{
	"call":  "Add call webhook",
	"media": "Add media webhook",
	"kazoo": "Add Kazoo hook",
}

// catalogue is GET /v1/webhooks, the pickers' source.
func (rq *request) catalogue() ([]hookType, error) {
	var env envelope[[]hookType]
	_, err := rq.api.call(rq.ctx(), http.MethodGet, "/v1/webhooks", nil, nil, nil, &env)
	return env.Data, err
}

func (rq *request) newForm(kind string) (hookForm, error) {
	types, err := rq.catalogue()
	if err != nil {
		return hookForm{}, err
	}
	f := hookForm{Kind: kind, Title: kindTitles[kind], Catalogue: types, Verbs: event.HTTPVerbs, Formats: event.Formats,
		HTTPVerb: event.DefaultHTTPVerb, Format: event.DefaultFormat, Retries: "2", Enabled: true, InternalLegs: true,
		Chosen: map[string]bool{}}
	for _, t := range types {
		if len(t.Filters) == 0 {
			f.KazooTypes = append(f.KazooTypes, t)
		}
	}
	switch kind {
	case "call":
		f.Hook, f.Format = event.HookCall, event.FormatJSON
	case "media":
		f.Hook, f.Format = event.HookMedia, event.FormatJSON
	default:
		f.Hook = event.LifecycleChannelCreate
	}
	return f, nil
}

// formOfPathKind starts the hook form of the kind the path names; for an
// unknown kind or a failure it has answered already and reports false.
func (c *Console) formOfPathKind(rq *request) (hookForm, bool) {
	kind := rq.r.PathValue("kind")
	if _, ok := kindTitles[kind]; !ok {
		c.renderError(rq.w, rq.r, &rq.sess, http.StatusNotFound, "There is no hook form of that kind.")
		return hookForm{}, false
	}
	f, err := rq.newForm(kind)
	if err != nil {
		rq.fail(err)
		return hookForm{}, false
	}
	return f, true
}

func (c *Console) newHookForm(rq *request) {
	f, ok := c.formOfPathKind(rq)
	if !ok {
		return
	}
	rq.render(http.StatusOK, "hookform", f.Title, f)
}

// readForm fills f from the posted form.
func (rq *request) readForm(f *hookForm) {
	p := rq.r.PostForm
	f.Name, f.URI = p.Get("name"), strings.TrimSpace(p.Get("uri"))
	f.HTTPVerb, f.Format, f.Retries = p.Get("http_verb"), p.Get("format"), strings.TrimSpace(p.Get("retries"))
	f.Enabled = p.Get("enabled") == "on"
	f.InternalLegs = p.Get("include_internal_legs") == "on"
	if f.Kind == "kazoo" {
		f.Hook = p.Get("hook")
		f.CustomData = strings.TrimSpace(p.Get("custom_data"))
	}
	f.Chosen = map[string]bool{}
	for _, field := range []string{"call_types", "call_statuses", "media_types"} {
		for _, v := range p[field] {
			f.Chosen[field+":"+v] = true
		}
	}
}

// document is the hook document the form describes, for the API to judge:
// what a field holds is passed on as typed, never corrected here.
func (f hookForm) document() map[string]any {
	doc := map[string]any{
		"name": f.Name, "uri": f.URI, "http_verb": f.HTTPVerb, "format": f.Format, "hook": f.Hook,
		"enabled": f.Enabled,
	}
	if n, err := strconv.Atoi(f.Retries); err == nil {
		doc["retries"] = n
	} else if f.Retries != "" {
		doc["retries"] = f.Retries
	}
	switch f.Kind {
	case "call":
		doc["call_types"] = f.chosen("call_types")
		doc["call_statuses"] = f.chosen("call_statuses")
	case "media":
		doc["media_types"] = f.chosen("media_types")
	case "kazoo":
		doc["include_internal_legs"] = f.InternalLegs
		switch {
		case f.CustomData == "":
			doc["custom_data"] = map[string]any{}
		case json.Valid([]byte(f.CustomData)):
			doc["custom_data"] = json.RawMessage(f.CustomData)
		default:
			doc["custom_data"] = f.CustomData
		}
	}
	if f.Revision > 0 {
		doc["revision"] = f.Revision
	}
	return doc
}

func (f hookForm) chosen(field string) []string {
	out := []string{}
	for key := range f.Chosen {
		if v, ok := strings.CutPrefix(key, field+":"); ok {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func (c *Console) createHook(rq *request) {
	f, ok := c.formOfPathKind(rq)
	if !ok {
		return
	}
	rq.readForm(&f)
	if rq.previewAsked(&f) {
		return
	}
	var env envelope[hook]
	_, err := rq.api.call(rq.ctx(), http.MethodPut, accountPath(rq.account, "webhooks"), nil, f.document(), nil, &env)
	if err != nil {
		if f.Problem = invalid(err); f.Problem != nil {
			rq.render(http.StatusBadRequest, "hookform", f.Title, f)
			return
		}
		rq.fail(err)
		return
	}
	// The signing secret is shown here once, in the answer to the post.
	c.showHook(rq, env.Data.ID, &hookNews{Secret: env.Data.Secret, Notice: "Webhook created."})
}

// accountMissing reports the API's 404 for an account-wide route: the
// account does not exist (yet).
func accountMissing(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// invalid returns the API's answer when it refused the document itself
// (400), so the form is shown again with the API's messages.
func invalid(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusConflict) {
		return ae
	}
	return nil
}

func (rq *request) getHook(id string) (hook, error) {
	var env envelope[hook]
	_, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "webhooks", id), nil, nil, nil, &env)
	return env.Data, err
}

func (c *Console) editHookForm(rq *request) {
	h, err := rq.getHook(rq.r.PathValue("hook"))
	if err != nil {
		rq.fail(err)
		return
	}
	f, err := rq.formFor(h)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.render(http.StatusOK, "hookform", f.Title, f)
}

// formFor is the edit form of a stored hook.
func (rq *request) formFor(h hook) (hookForm, error) {
	f, err := rq.newForm(hookKind(h))
	if err != nil {
		return f, err
	}
	f.Title = "Edit " + h.Name
	f.ID, f.Revision, f.Name, f.URI, f.HTTPVerb, f.Format, f.Hook = h.ID, h.Revision, h.Name, h.URI, h.HTTPVerb, h.Format, h.Hook
	f.Retries, f.Enabled, f.InternalLegs = strconv.Itoa(h.Retries), h.Enabled, h.IncludeInternalLegs
	if len(h.CustomData) > 0 && string(h.CustomData) != "{}" {
		f.CustomData = string(h.CustomData)
	}
	for field, values := range map[string][]string{"call_types": h.CallTypes, "call_statuses": h.CallStatuses, "media_types": h.MediaTypes} {
		for _, v := range values {
			f.Chosen[field+":"+v] = true
		}
	}
	return f, nil
}

// editHook replaces the hook with the form's document at the revision the
// form was read at; a newer revision in the store is shown as a conflict.
func (c *Console) editHook(rq *request) {
	h, err := rq.getHook(rq.r.PathValue("hook"))
	if err != nil {
		rq.fail(err)
		return
	}
	f, err := rq.formFor(h)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.readForm(&f)
	f.Revision, _ = strconv.ParseInt(rq.r.PostForm.Get("revision"), 10, 64)
	if rq.previewAsked(&f) {
		return
	}
	_, err = rq.api.call(rq.ctx(), http.MethodPost, accountPath(rq.account, "webhooks", h.ID), nil, f.document(), nil, nil)
	if err != nil {
		if f.Problem = invalid(err); f.Problem != nil {
			f.Conflict = f.Problem.Status == http.StatusConflict
			status := f.Problem.Status
			if f.Conflict {
				// Show what is stored now; the form keeps the user's
				// values so nothing typed is lost.
				f.Revision = h.Revision
			}
			rq.render(status, "hookform", f.Title, f)
			return
		}
		rq.fail(err)
		return
	}
	rq.redirect("webhooks/"+url.PathEscape(h.ID), "Webhook saved.")
}

// revisionHeader makes a state change conditional on the revision the page
// showed (If-Match), so a change made meanwhile is a conflict, not lost.
func (rq *request) revisionHeader() map[string]string {
	if rev := rq.r.PostForm.Get("revision"); rev != "" {
		return map[string]string{"If-Match": `"` + rev + `"`}
	}
	return nil
}

func (c *Console) setHookEnabled(enabled bool) func(*request) {
	return func(rq *request) {
		id := rq.r.PathValue("hook")
		_, err := rq.api.call(rq.ctx(), http.MethodPatch, accountPath(rq.account, "webhooks", id), nil,
			map[string]any{"enabled": enabled}, rq.revisionHeader(), nil)
		if err != nil {
			if ae := invalid(err); ae != nil && ae.Status == http.StatusConflict {
				c.showHook(rq, id, &hookNews{Conflict: ae})
				return
			}
			rq.fail(err)
			return
		}
		notice := "Webhook disabled."
		if enabled {
			notice = "Webhook enabled."
		}
		rq.redirect("webhooks/"+url.PathEscape(id), notice)
	}
}

func (c *Console) deleteHook(rq *request) {
	id := rq.r.PathValue("hook")
	_, err := rq.api.call(rq.ctx(), http.MethodDelete, accountPath(rq.account, "webhooks", id), nil, nil, rq.revisionHeader(), nil)
	if err != nil {
		if ae := invalid(err); ae != nil && ae.Status == http.StatusConflict {
			c.showHook(rq, id, &hookNews{Conflict: ae})
			return
		}
		rq.fail(err)
		return
	}
	rq.redirect("webhooks", "Webhook deleted.")
}

func (c *Console) rotateSecret(rq *request) {
	id := rq.r.PathValue("hook")
	var env envelope[hook]
	_, err := rq.api.call(rq.ctx(), http.MethodPost, accountPath(rq.account, "webhooks", id, "secret"), nil, nil, rq.revisionHeader(), &env)
	if err != nil {
		if ae := invalid(err); ae != nil && ae.Status == http.StatusConflict {
			c.showHook(rq, id, &hookNews{Conflict: ae})
			return
		}
		rq.fail(err)
		return
	}
	c.showHook(rq, id, &hookNews{Secret: env.Data.Secret,
		Notice: "Signing secret rotated; the previous one keeps signing beside it for the overlap period."})
}

// revealSecret shows the hook's current signing secret (the API's GET
// .../secret). It is a POST with the CSRF token, like rotation, so the
// secret never lands in a URL, the history or a cross-site GET.
func (c *Console) revealSecret(rq *request) {
	id := rq.r.PathValue("hook")
	var env envelope[struct {
		Secret string `json:"secret"`
	}]
	if _, err := rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "webhooks", id, "secret"), nil, nil, nil, &env); err != nil {
		rq.fail(err)
		return
	}
	c.showHook(rq, id, &hookNews{Secret: env.Data.Secret, Notice: "Current signing secret shown below."})
}

// testHook fires the API's test event at the hook and shows its attempt.
func (c *Console) testHook(rq *request) {
	id := rq.r.PathValue("hook")
	var env envelope[json.RawMessage]
	status, err := rq.api.call(rq.ctx(), http.MethodPost, accountPath(rq.account, "webhooks", id, "test"), nil, nil, nil, &env)
	if err != nil {
		rq.fail(err)
		return
	}
	news := &hookNews{}
	if status == http.StatusOK {
		var a attempt
		if err := json.Unmarshal(env.Data, &a); err == nil {
			news.Test = &a
		}
	} else {
		var queued struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(env.Data, &queued)
		news.Notice = "Test queued: " + queued.Message
	}
	c.showHook(rq, id, news)
}

// hookNews is what a state change has to tell on the detail page.
type hookNews struct {
	Notice    string
	Secret    string
	Test      *attempt
	Conflict  *apiError
	Problem   *apiError
	Recovered *recovered
}

type hookDetail struct {
	Hook      hook
	Kind      string
	State     string
	News      *hookNews
	Recent    []attempt
	Stats     attemptStats
	Since     string
	Truncated bool
	// RecoverFrom is the recover form's default: a day ago, in the
	// form's datetime-local format (UTC).
	RecoverFrom string
}

// attemptStats summarises attempts: success rate and latency percentiles.
type attemptStats struct {
	Count, Successes int
	SuccessRate      string
	P50, P95, Max    int
}

func statsOf(attempts []attempt) attemptStats {
	s := attemptStats{Count: len(attempts)}
	if s.Count == 0 {
		return s
	}
	latencies := make([]int, 0, len(attempts))
	for _, a := range attempts {
		if a.Result == "success" {
			s.Successes++
		}
		latencies = append(latencies, a.LatencyMs)
	}
	slices.Sort(latencies)
	s.SuccessRate = strconv.FormatFloat(100*float64(s.Successes)/float64(s.Count), 'f', 1, 64) + " %"
	s.P50 = latencies[(len(latencies)-1)/2]
	s.P95 = latencies[(len(latencies)-1)*95/100]
	s.Max = latencies[len(latencies)-1]
	return s
}

const statsPageSize = 500

func (c *Console) hookDetail(rq *request) { c.showHook(rq, rq.r.PathValue("hook"), nil) }

// showHook renders the detail page: the hook, its last 24 hours of attempts
// summarised (one API page, at most statsPageSize attempts) and the newest.
func (c *Console) showHook(rq *request, id string, news *hookNews) {
	h, err := rq.getHook(id)
	if err != nil {
		rq.fail(err)
		return
	}
	since := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	var env envelope[[]attempt]
	_, err = rq.api.call(rq.ctx(), http.MethodGet, accountPath(rq.account, "webhooks", id, "attempts"),
		url.Values{"from": {since}, "page_size": {strconv.Itoa(statsPageSize)}}, nil, nil, &env)
	if err != nil {
		rq.fail(err)
		return
	}
	d := hookDetail{Hook: h, Kind: hookKind(h), News: news, Stats: statsOf(env.Data), Since: since,
		RecoverFrom: time.Now().Add(-24 * time.Hour).UTC().Format(datetimeLocal),
		Truncated:   env.NextStartKey != ""}
	var last *attempt
	if len(env.Data) > 0 {
		last = &env.Data[0]
	}
	d.State = hookState(h, last)
	d.Recent = env.Data[:min(len(env.Data), 10)]
	status := http.StatusOK
	switch {
	case news == nil:
	case news.Conflict != nil:
		status = http.StatusConflict
	case news.Problem != nil:
		status = news.Problem.Status
	}
	rq.render(status, "hook", h.Name, d)
}
