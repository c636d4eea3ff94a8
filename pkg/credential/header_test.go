package credential

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestFromHeader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxTokenLength)
	tests := []struct {
		name    string
		headers [][2]string
		want    string
		err     error
	}{
		{name: "none", err: ErrMissing},
		{name: "empty X-Auth-Token counts as absent", headers: [][2]string{{"X-Auth-Token", ""}}, err: ErrMissing},
		{name: "X-Auth-Token", headers: [][2]string{{"X-Auth-Token", "pbxt_abc"}}, want: "pbxt_abc"},
		{name: "bearer", headers: [][2]string{{"Authorization", "Bearer pbxt_abc"}}, want: "pbxt_abc"},
		{name: "bearer scheme is case-insensitive", headers: [][2]string{{"Authorization", "bEaReR pbxt_abc"}}, want: "pbxt_abc"},
		{name: "both agreeing", headers: [][2]string{{"X-Auth-Token", "t0ken"}, {"Authorization", "Bearer t0ken"}}, want: "t0ken"},
		{name: "longest token", headers: [][2]string{{"X-Auth-Token", long}}, want: long},
		{name: "both disagreeing", headers: [][2]string{{"X-Auth-Token", "one"}, {"Authorization", "Bearer two"}}, err: ErrMalformed},
		{name: "X-Auth-Token twice", headers: [][2]string{{"X-Auth-Token", "a"}, {"X-Auth-Token", "a"}}, err: ErrMalformed},
		{name: "Authorization twice", headers: [][2]string{{"Authorization", "Bearer a"}, {"Authorization", "Bearer a"}}, err: ErrMalformed},
		{name: "basic scheme", headers: [][2]string{{"Authorization", "Basic dXNlcjpwYXNz"}}, err: ErrMalformed},
		{name: "basic beside X-Auth-Token", headers: [][2]string{{"X-Auth-Token", "t"}, {"Authorization", "Basic dXNlcjpwYXNz"}}, err: ErrMalformed},
		{name: "bearer without token", headers: [][2]string{{"Authorization", "Bearer"}}, err: ErrMalformed},
		{name: "bearer with empty token", headers: [][2]string{{"Authorization", "Bearer "}}, err: ErrMalformed},
		{name: "two spaces", headers: [][2]string{{"Authorization", "Bearer  tok"}}, err: ErrMalformed},
		{name: "tab separator", headers: [][2]string{{"Authorization", "Bearer\ttok"}}, err: ErrMalformed},
		{name: "token with a space", headers: [][2]string{{"Authorization", "Bearer to ken"}}, err: ErrMalformed},
		{name: "token too long", headers: [][2]string{{"X-Auth-Token", long + "a"}}, err: ErrMalformed},
		{name: "control character", headers: [][2]string{{"X-Auth-Token", "to\x01ken"}}, err: ErrMalformed},
		{name: "non-ASCII", headers: [][2]string{{"X-Auth-Token", "tökén"}}, err: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, kv := range tt.headers {
				h.Add(kv[0], kv[1])
			}
			got, err := FromHeader(h)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || got != "" {
					t.Fatalf("FromHeader = %q, %v; want error %v", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FromHeader = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzFromHeader holds the parser to its contract on any header values: it
// never panics, fails only with ErrMissing or ErrMalformed, and a token it
// returns is 1..MaxTokenLength visible ASCII characters that one of the
// headers carries verbatim.
func FuzzFromHeader(f *testing.F) {
	f.Add("pbxt_abc", "")
	f.Add("", "Bearer pbxt_abc")
	f.Add("x", "Bearer y")
	f.Add("", "Basic dXNlcjpwYXNz")
	f.Add("", "bearer  two spaces")
	f.Add("tok\x00en", "")
	f.Fuzz(func(t *testing.T, xAuth, authz string) {
		h := http.Header{}
		if xAuth != "" {
			h.Set(HeaderAuthToken, xAuth)
		}
		if authz != "" {
			h.Set(HeaderAuthorization, authz)
		}
		token, err := FromHeader(h)
		if err != nil {
			if !errors.Is(err, ErrMissing) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if token != "" {
				t.Fatalf("token %q returned with error %v", token, err)
			}
			return
		}
		if token == "" || len(token) > MaxTokenLength || !visibleASCII(token) {
			t.Fatalf("accepted token %q breaks the token rules", token)
		}
		if token != xAuth && authz[len(authz)-len(token):] != token {
			t.Fatalf("token %q is in neither header (%q, %q)", token, xAuth, authz)
		}
		if xAuth != "" && authz != "" && token != xAuth {
			t.Fatalf("headers disagree yet %q accepted", token)
		}
	})
}
