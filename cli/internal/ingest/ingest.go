// Package ingest sends events to the ingest service as a PBX does: native
// JSON events to POST /v1/accounts/{account}/events with the token as a
// bearer credential. Ingest has no OpenAPI document, so this is the CLI's
// one hand-written HTTP client; the API goes through pkg/apiclient.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
)

// maxAnswerBytes bounds an answer read from ingest.
const maxAnswerBytes = 1 << 20

// Client posts to one ingest with one token.
type Client struct {
	HTTP    *http.Client
	BaseURL string
	Token   string
}

// Accepted is ingest's 202 answer: the stored events' ids in request order,
// a batch's invalid items, and the indexes of items carrying no event
// pbxhooks handles.
type Accepted struct {
	IDs      []string   `json:"ids"`
	Rejected []Rejected `json:"rejected,omitempty"`
	Ignored  []int      `json:"ignored,omitempty"`
}

// Rejected is one invalid item of a batch.
type Rejected struct {
	Index   int             `json:"index"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// SendEvents posts one native event (a JSON object) or a batch (an array)
// for account. An error answer becomes an *exitcode.Error; ingest stores
// each event at most once, so a resend after a failure is safe.
func (c *Client) SendEvents(ctx context.Context, account string, body []byte) (Accepted, error) {
	var answer struct {
		Data Accepted `json:"data"`
	}
	path := "/v1/accounts/" + url.PathEscape(account) + "/events"
	if err := c.post(ctx, path, "application/json", bytes.NewReader(body), "send events", &answer); err != nil {
		return Accepted{}, err
	}
	return answer.Data, nil
}

// post sends body and decodes a 2xx answer into out.
func (c *Client) post(ctx context.Context, path, contentType string, body io.Reader, what string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return exitcode.Usagef("ingest URL %q: %v", c.BaseURL, err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return exitcode.Transport("ingest", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return exitcode.Transport("ingest", c.BaseURL, err)
	}
	if resp.StatusCode >= 300 {
		return exitcode.FromResponse(what, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return exitcode.Failuref("%s: ingest answered %d with unreadable JSON: %w", what, resp.StatusCode, err)
	}
	return nil
}

// String is a one-line summary for people.
func (a Accepted) String() string {
	s := fmt.Sprintf("%d accepted", len(a.IDs))
	if len(a.Ignored) > 0 {
		s += fmt.Sprintf(", %d ignored (no event pbxhooks handles)", len(a.Ignored))
	}
	if len(a.Rejected) > 0 {
		s += fmt.Sprintf(", %d rejected", len(a.Rejected))
	}
	return s
}
