package console

import (
	"html/template"
	"strings"
	"time"
)

var funcs = template.FuncMap{
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
