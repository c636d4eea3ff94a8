package httpapi

import (
	"errors"
	"net/http"

	"github.com/pbxhooks/pbxhooks/pkg/credential"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
	"github.com/pbxhooks/pbxhooks/services/ingest/internal/adapter"
)

// authorized runs h only for a caller who may feed the path's account
// (pkg/credential has the rules, shared with the API): the admin token, a
// token of that account with scope "pbx", or on the shared "any" routes a
// token with scope "pbx_any". It answers 401 (no or a wrong credential),
// 429 (the client address failed too often), 403 (a valid token that may
// not feed this account) and 503 (the token store did not answer), all in
// the API's error format, before anything of the body is read.
func (s *Server) authorized(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.auth.Authenticate(r.Context(), r)
		if err == nil {
			if account := r.PathValue("account_id"); account == adapter.AnyAccount {
				err = p.MayFeedShared()
			} else {
				err = p.MayFeed(account)
			}
		}
		var refusal *credential.Refusal
		switch {
		case err == nil:
			return h(w, r)
		case errors.As(err, &refusal):
			return &apiError{status: refusal.Status, message: refusal.Message, retryAfter: refusal.RetryAfter}
		}
		s.log.WarnContext(r.Context(), "token lookup failed", telemetry.KeyError, err)
		return &apiError{status: http.StatusServiceUnavailable, message: "the token store did not answer; resend the request", retryAfter: retryAfter}
	}
}
