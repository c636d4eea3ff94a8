package console

import "net/http"

// preview is the API's answer to a filter preview.
type preview struct {
	Examined int            `json:"examined"`
	Matched  []indexedEvent `json:"matched"`
}

// previewAsked answers a hook form posted with its "Preview matches"
// button: the form's document goes to the API's preview route (validated
// as for a create, nothing stored) and the form is shown again, as typed,
// with the recent events it would have matched. It reports whether it
// answered.
func (rq *request) previewAsked(f *hookForm) bool {
	if rq.r.PostForm.Get("action") != "preview" {
		return false
	}
	doc := f.document()
	delete(doc, "revision")
	var env envelope[preview]
	if _, err := rq.api.call(rq.ctx(), http.MethodPost, accountPath(rq.account, "webhooks", "preview"), nil, doc, nil, &env); err != nil {
		if f.Problem = invalid(err); f.Problem == nil {
			rq.fail(err)
			return true
		}
		rq.render(http.StatusBadRequest, "hookform", f.Title, *f)
		return true
	}
	f.Preview = &env.Data
	rq.render(http.StatusOK, "hookform", f.Title, *f)
	return true
}
