// Package api binds the generated API client (pkg/apiclient) to the CLI's
// settings and turns its outcomes into the CLI's exit codes.
package api

import (
	"context"
	"net/http"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/settings"
	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
)

// Client is the generated client, authenticated with the settings' token,
// for the settings' account.
type Client struct {
	*apiclient.ClientWithResponses
	Settings settings.Settings
}

// New needs an account and a token (usage error otherwise).
func New(f *factory.Factory) (*Client, error) {
	s, err := f.AccountSettings()
	if err != nil {
		return nil, err
	}
	return NewFor(f, s)
}

// NewFor builds a client for already resolved settings.
func NewFor(f *factory.Factory, s settings.Settings) (*Client, error) {
	token := s.Token
	c, err := apiclient.NewClientWithResponses(s.APIURL,
		apiclient.WithHTTPClient(f.HTTPClient),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("X-Auth-Token", token)
			req.Header.Set("User-Agent", "pbxhooks-cli")
			return nil
		}))
	if err != nil {
		return nil, exitcode.Usagef("--api %q: %v", s.APIURL, err)
	}
	return &Client{ClientWithResponses: c, Settings: s}, nil
}

// Account is the account every call acts on.
func (c *Client) Account() apiclient.AccountId { return c.Settings.Account }

// CallFailed is the error of a generated method that returned no
// response: no answer at all (exit 5), or an answer it could not decode.
func (c *Client) CallFailed(what string, err error) error {
	if exitcode.IsUnreachable(err) {
		return exitcode.Transport("API", c.Settings.APIURL, err)
	}
	return exitcode.Failuref("%s: unreadable answer: %w", what, err)
}

// Refused is the error of an answer that is not 2xx (its code by status,
// its message from the error envelope), or nil.
func Refused(what string, resp *http.Response, body []byte) error {
	if resp.StatusCode >= 300 {
		return exitcode.FromResponse(what, resp.StatusCode, body)
	}
	return nil
}

// Unexpected is the error for a 2xx answer without the documented body.
func Unexpected(what string, resp *http.Response) error {
	return exitcode.Failuref("%s: the API answered %d without the expected JSON body", what, resp.StatusCode)
}
