package apiclient

import (
	"context"
	"net/http"
)

// WithToken authenticates every request of the client with token, sent as
// X-Auth-Token (the document's authToken scheme): the admin token or an
// account token with scope "api".
func WithToken(token string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("X-Auth-Token", token)
		return nil
	})
}
