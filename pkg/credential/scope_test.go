package credential

import (
	"errors"
	"slices"
	"testing"
	"unicode/utf8"
)

func TestParseScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want Scopes
		rule string
	}{
		{in: []string{"api"}, want: Scopes{ScopeAPI}},
		{in: []string{"pbx"}, want: Scopes{ScopePBX}},
		{in: []string{"pbx", "api"}, want: Scopes{ScopeAPI, ScopePBX}},
		{in: []string{"pbx_any", "pbx", "api"}, want: Scopes{ScopeAPI, ScopePBX, ScopePBXAny}},
		{in: nil, rule: "min_length"},
		{in: []string{}, rule: "min_length"},
		{in: []string{"API"}, rule: "enum"},
		{in: []string{"admin"}, rule: "enum"},
		{in: []string{""}, rule: "enum"},
		{in: []string{"pbx", "pbx"}, rule: "unique_items"},
	}
	for _, tt := range tests {
		got, err := ParseScopes(tt.in)
		if tt.rule != "" {
			var se *ScopeError
			if !errors.As(err, &se) || se.Rule != tt.rule {
				t.Errorf("ParseScopes(%q) = %v, %v; want rule %s", tt.in, got, err, tt.rule)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseScopes(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestStoredScopesDropsWhatThisCodeDoesNotKnow(t *testing.T) {
	t.Parallel()
	got := StoredScopes([]string{"pbx", "future_scope", "api", "pbx"})
	if want := (Scopes{ScopeAPI, ScopePBX}); !slices.Equal(got, want) {
		t.Fatalf("StoredScopes = %v, want %v", got, want)
	}
}

// FuzzParseScopes: any requested list either yields known, distinct scopes
// in canonical order, or a ScopeError with a bounded, valid UTF-8 message.
func FuzzParseScopes(f *testing.F) {
	f.Add("api", "pbx", "")
	f.Add("pbx", "pbx", "")
	f.Add("pbx_any", "", "")
	f.Add("\xff\xfe", "api", "x")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var in []string
		for _, s := range []string{a, b, c} {
			if s != "" {
				in = append(in, s)
			}
		}
		got, err := ParseScopes(in)
		if err != nil {
			var se *ScopeError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a ScopeError", err)
			}
			if len(se.Message) > 200 {
				t.Fatalf("message of %d bytes is not bounded", len(se.Message))
			}
			if !utf8.ValidString(se.Message) {
				t.Fatalf("message %q is not valid UTF-8", se.Message)
			}
			return
		}
		if len(got) != len(in) || !slices.IsSortedFunc(got, func(x, y Scope) int {
			return slices.Index(KnownScopes, x) - slices.Index(KnownScopes, y)
		}) {
			t.Fatalf("ParseScopes(%q) = %v: not the canonical form", in, got)
		}
		for _, s := range got {
			if !KnownScopes.Has(s) || !slices.Contains(in, string(s)) {
				t.Fatalf("ParseScopes(%q) = %v: %q was not asked for or is unknown", in, got, s)
			}
		}
	})
}

func TestPrincipalDecisions(t *testing.T) {
	t.Parallel()
	admin := Principal{Admin: true}
	api := Principal{AccountID: "a", Scopes: Scopes{ScopeAPI}}
	pbx := Principal{AccountID: "a", Scopes: Scopes{ScopePBX}}
	both := Principal{AccountID: "a", Scopes: Scopes{ScopeAPI, ScopePBX}}
	shared := Principal{AccountID: "operator", Scopes: Scopes{ScopePBXAny}}
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"admin manages any account", admin.MayManage("b"), true},
		{"admin feeds any account", admin.MayFeed("b"), true},
		{"admin feeds the shared route", admin.MayFeedShared(), true},
		{"api token manages its account", api.MayManage("a"), true},
		{"api token does not manage another", api.MayManage("b"), false},
		{"api token does not feed", api.MayFeed("a"), false},
		{"pbx token feeds its account", pbx.MayFeed("a"), true},
		{"pbx token does not feed another", pbx.MayFeed("b"), false},
		{"pbx token does not manage", pbx.MayManage("a"), false},
		{"pbx token does not feed the shared route", pbx.MayFeedShared(), false},
		{"api+pbx token manages", both.MayManage("a"), true},
		{"api+pbx token feeds", both.MayFeed("a"), true},
		{"pbx_any token feeds the shared route", shared.MayFeedShared(), true},
		{"pbx_any token does not feed a specific account", shared.MayFeed("operator"), false},
		{"pbx_any token does not manage", shared.MayManage("operator"), false},
	}
	for _, tt := range tests {
		if tt.ok != (tt.err == nil) {
			t.Errorf("%s: got %v", tt.name, tt.err)
		}
		var r *Refusal
		if tt.err != nil && (!errors.As(tt.err, &r) || r.Status != 403) {
			t.Errorf("%s: %v is not a 403 refusal", tt.name, tt.err)
		}
	}
}
