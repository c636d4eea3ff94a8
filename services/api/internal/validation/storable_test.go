package validation

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFindUnstorable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		doc       string
		found     bool
		field     string
		reasonHas string
	}{
		{`{"data":{"name":"ok","custom_data":{"a":"\ud83d\ude00","b":"\\u0000","c":"\ufeff"}}}`, false, "", ""},
		{`{"data":{"custom_data":{"note":"a\u0000b"}}}`, true, "data.custom_data.note", "NUL"},
		{`{"data":{"custom_data":{"note":"\ud800"}}}`, true, "data.custom_data.note", "surrogate"},
		{`{"data":{"custom_data":{"note":"\uDC00"}}}`, true, "data.custom_data.note", "surrogate"},
		{`{"data":{"custom_data":{"note":"\ud800\u0041"}}}`, true, "data.custom_data.note", "surrogate"},
		{`{"data":{"custom_data":{"note":"\ud800\\udc00"}}}`, true, "data.custom_data.note", "surrogate"},
		{"{\"data\":{\"custom_data\":{\"note\":\"caf\xe9\"}}}", true, "data.custom_data.note", "UTF-8"},
		{`{"data":{"custom_data":{"a\u0000":"v"}}}`, true, "data.custom_data", "member name"},
		{`{"data":{"custom_data":{"list":[1,{"x":[true,"\ud800"]}]}}}`, true, "data.custom_data.list[1].x[1]", "surrogate"},
		{`["ok",null,"\u0000"]`, true, "[2]", "NUL"},
		{`"\u0000"`, true, "", "NUL"},
		{`{"a":1,"b":{},"c":[],"d":"x"} `, false, "", ""},
		{`{"a":`, true, "", "JSON"},
	}
	for _, tc := range tests {
		got, found := FindUnstorable([]byte(tc.doc))
		if found != tc.found || got.Field() != tc.field || !strings.Contains(got.Reason, tc.reasonHas) {
			t.Errorf("FindUnstorable(%q) = %+v (field %q), %v; want field %q, reason with %q, %v",
				tc.doc, got, got.Field(), found, tc.field, tc.reasonHas, tc.found)
		}
	}
}

// FuzzFindUnstorable holds the check to what PostgreSQL needs: a document
// it passes decodes without loss (no NUL, no U+FFFD that the sender did not
// write), and one it refuses really has such a string.
func FuzzFindUnstorable(f *testing.F) {
	for _, seed := range []string{
		`{"a":"b"}`, `{"a":"\u0000"}`, `{"\ud800":1}`, `["\ud83d\ude00","\ufffd"]`, "\"\xff\"",
		`{"a":[{"b":"\\ud800"}]}`, `"\ud800\ud800"`, `{"a":"\uD83D\uDE00\uDE00"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		u, found := FindUnstorable(doc)
		if !json.Valid(doc) {
			if !found || u.Reason != reasonSyntax {
				t.Fatalf("invalid JSON %q not reported: %+v", doc, u)
			}
			return
		}
		var v any
		if err := json.Unmarshal(doc, &v); err != nil {
			t.Fatalf("valid JSON does not decode: %v", err)
		}
		replaced, nul := decodedDamage(v)
		if !found && (nul || replaced > writtenReplacements(doc)) {
			t.Fatalf("passed %q, which decodes with NUL or replaced characters", doc)
		}
		if found && !suspect.Match(doc) && utf8.Valid(doc) {
			t.Fatalf("refused %q (%+v), which has no NUL, surrogate escape or invalid UTF-8", doc, u)
		}
	})
}

// suspect matches the escapes that can make a JSON string unstorable.
var suspect = regexp.MustCompile(`(?i)\\u(0000|d[89a-f])`)

// decodedDamage counts U+FFFD in a decoded document's strings, member names
// included, and reports whether any holds NUL.
func decodedDamage(v any) (replaced int, nul bool) {
	count := func(s string) {
		replaced += strings.Count(s, string(utf8.RuneError))
		nul = nul || strings.ContainsRune(s, 0)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			count(x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				count(k)
				walk(e)
			}
		}
	}
	walk(v)
	return replaced, nul
}

// writtenReplacements is at least how many U+FFFD the sender wrote, as the
// character or as \ufffd.
func writtenReplacements(doc []byte) int {
	s := string(doc)
	return strings.Count(s, string(utf8.RuneError)) + strings.Count(strings.ToLower(s), `\ufffd`)
}
