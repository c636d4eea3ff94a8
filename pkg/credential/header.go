// Package credential is the one definition of how pbxhooks recognises a
// caller over HTTP, shared by the api and ingest: which headers carry a
// token and how strictly they are read (header.go), how tokens are stored
// and compared (token.go), what each scope lets a token do (scope.go), and
// the authentication itself with its throttle on failures per client
// address (authenticator.go, throttle.go).
package credential

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Header names. X-Auth-Token is Kazoo's; Authorization: Bearer is what most
// HTTP clients and PBX webhook settings offer.
const (
	HeaderAuthToken     = "X-Auth-Token"
	HeaderAuthorization = "Authorization"
)

// MaxTokenLength bounds a presented token; longer is never valid and is
// refused without being hashed or looked up.
const MaxTokenLength = 512

// bearerScheme is compared case-insensitively, as RFC 9110 asks of
// authentication schemes.
const bearerScheme = "bearer"

var (
	// ErrMissing means the request carries no credential at all.
	ErrMissing = errors.New("no credential")
	// ErrMalformed means a credential header is present but not one
	// pbxhooks could ever accept; the wrapped message says why.
	ErrMalformed = errors.New("malformed credential")
)

// FromHeader returns the token a request presents, in X-Auth-Token or as
// Authorization: Bearer <token>.
//
// Parsing is strict, so that no two readings of one request exist: each
// header at most once; a token is 1 to MaxTokenLength visible ASCII
// characters (no spaces, no control characters); "Bearer" and the token are
// separated by exactly one space; an Authorization header with another
// scheme is refused rather than ignored; when both headers are present they
// must carry the same token. An empty header counts as absent. The error
// is ErrMissing or wraps ErrMalformed.
func FromHeader(h http.Header) (string, error) {
	xAuth, err := single(h, HeaderAuthToken)
	if err != nil {
		return "", err
	}
	authz, err := single(h, HeaderAuthorization)
	if err != nil {
		return "", err
	}
	var bearer string
	if authz != "" {
		scheme, token, found := strings.Cut(authz, " ")
		if !found || !strings.EqualFold(scheme, bearerScheme) {
			return "", fmt.Errorf("%w: %s must be \"Bearer <token>\"", ErrMalformed, HeaderAuthorization)
		}
		if err := checkToken(token, HeaderAuthorization); err != nil {
			return "", err
		}
		bearer = token
	}
	if xAuth != "" {
		if err := checkToken(xAuth, HeaderAuthToken); err != nil {
			return "", err
		}
	}
	switch {
	case xAuth != "" && bearer != "" && xAuth != bearer:
		return "", fmt.Errorf("%w: %s and %s carry different tokens", ErrMalformed, HeaderAuthToken, HeaderAuthorization)
	case xAuth != "":
		return xAuth, nil
	case bearer != "":
		return bearer, nil
	}
	return "", ErrMissing
}

// single returns the one value of header name, "" when it is absent or
// empty; a repeated header is malformed.
func single(h http.Header, name string) (string, error) {
	values := h.Values(name)
	switch len(values) {
	case 0:
		return "", nil
	case 1:
		return values[0], nil
	}
	return "", fmt.Errorf("%w: %s is sent more than once", ErrMalformed, name)
}

// checkToken accepts 1 to MaxTokenLength visible ASCII characters.
func checkToken(token, header string) error {
	if token == "" {
		return fmt.Errorf("%w: %s carries no token", ErrMalformed, header)
	}
	if len(token) > MaxTokenLength {
		return fmt.Errorf("%w: the token in %s is longer than %d characters", ErrMalformed, header, MaxTokenLength)
	}
	if !visibleASCII(token) {
		return fmt.Errorf("%w: the token in %s must be visible ASCII characters without spaces", ErrMalformed, header)
	}
	return nil
}

func visibleASCII(s string) bool {
	for i := range len(s) {
		if s[i] < '!' || s[i] > '~' {
			return false
		}
	}
	return true
}
