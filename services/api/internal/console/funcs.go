package console

import (
	"html/template"
	"strings"
	"time"
)

// attemptView is one attempt shown on a page, with what its resend form
// needs from the page.
type attemptView struct {
	attempt
	Account, CSRF string
}

var funcs = template.FuncMap{
	"inPage": func(v view, a any) attemptView {
		out := attemptView{Account: v.Account, CSRF: v.CSRF}
		switch a := a.(type) {
		case attempt:
			out.attempt = a
		case *attempt:
			out.attempt = *a
		}
		return out
	},
	"join":    strings.Join,
	"pretty":  prettyJSON,
	"account": func(id string, rest ...string) string { return accountURL(id, rest...) },
	// when shows an RFC 3339 time compactly, in UTC.
	"when": func(s string) string {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return s
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"short": func(s string) string {
		if len(s) <= 12 {
			return s
		}
		return s[:12] + "…"
	},
}
