package testbed

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
)

const (
	// apiTryTimeout bounds one try of an API request.
	apiTryTimeout = 10 * time.Second
	// apiRetryWait is the pause before a request is tried again.
	apiRetryWait = 200 * time.Millisecond
	// apiMaxAnswerBytes bounds what is read of an answer.
	apiMaxAnswerBytes = 4 << 20
)

// newAPIClient is the generated API client, as the admin, for the API at
// addr; its requests are retried as retryingDoer says.
func newAPIClient(addr string) (*apiclient.ClientWithResponses, error) {
	return apiclient.NewClientWithResponses("http://"+addr,
		apiclient.WithToken(AdminToken), apiclient.WithHTTPClient(retryingDoer{}))
}

// retryingDoer sends a request again after a 429 (the API's rate limit) or a
// transport error, until the request's context ends: a testbed under load
// or with a service restarting must not fail a run for a transient answer.
// Each try is bounded by apiTryTimeout. When the context ends after a 429,
// that answer is returned.
type retryingDoer struct{}

func (retryingDoer) Do(req *http.Request) (*http.Response, error) {
	for try := 0; ; try++ {
		if try > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		resp, err := tryOnce(req)
		if err == nil && resp.StatusCode != http.StatusTooManyRequests {
			return resp, nil
		}
		select {
		case <-req.Context().Done():
			if err == nil {
				return resp, nil
			}
			return nil, fmt.Errorf("%s %s: %w (last: %v)", req.Method, req.URL.Path, req.Context().Err(), err)
		case <-time.After(apiRetryWait):
		}
	}
}

// tryOnce sends req once and reads its answer whole, so the try's timeout
// covers the body too.
func tryOnce(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), apiTryTimeout)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, apiMaxAnswerBytes))
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
