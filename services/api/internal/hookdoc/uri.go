package hookdoc

import (
	"net/url"
	"strconv"
)

// CheckCallbackURI returns why s cannot be a hook's callback URL, or "" when
// it can: it must be absolute, http or https, name a host, and carry no
// credentials (they would be stored and shown in clear text; a secret
// belongs in custom_data or the signature).
func CheckCallbackURI(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL"
	}
	switch {
	case !u.IsAbs():
		return "must be an absolute URL starting with http:// or https://"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must use http or https, not " + strconv.Quote(truncate(u.Scheme, 32))
	case u.User != nil:
		return "must not contain credentials (user:password@)"
	case u.Hostname() == "":
		return "must name a host, as in https://example.com/path"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "has an invalid port " + strconv.Quote(truncate(port, 16))
		}
	}
	return ""
}
