package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// inProcess is an http.RoundTripper that answers with the API's own
// handler, so the console goes through exactly the routes (and so the
// authentication, tenant checks, validation and revisions) any REST client
// goes through, without a network hop.
type inProcess struct {
	api http.Handler
	// limit bounds an answer read into memory.
	limit int64
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &bufferedResponse{header: http.Header{}, limit: t.limit}
	// The API's middleware reads RemoteAddr (the failed-authentication
	// throttle); the console passes the browser's address through.
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:0"
	}
	req.RequestURI = req.URL.RequestURI()
	// A server-side request always has a body; handlers read it.
	if req.Body == nil {
		req.Body = http.NoBody
	}
	t.api.ServeHTTP(w, req)
	if w.overflow {
		return nil, fmt.Errorf("API answer to %s %s exceeds %d bytes", req.Method, req.URL.Path, t.limit)
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

type bufferedResponse struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	limit    int64
	overflow bool
}

func (w *bufferedResponse) Header() http.Header { return w.header }
func (w *bufferedResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *bufferedResponse) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if int64(w.body.Len()+len(p)) > w.limit {
		w.overflow = true
		return 0, fmt.Errorf("answer exceeds %d bytes", w.limit)
	}
	return w.body.Write(p)
}

// apiError is an error answer of the API: its status, message and the
// per-field rules it names ({"field": {"rule": {"message": ...}}}).
type apiError struct {
	Status  int
	Message string
	Fields  map[string][]string
}

func (e *apiError) Error() string { return fmt.Sprintf("API answered %d: %s", e.Status, e.Message) }

// FieldMessages lists each field's messages, fields sorted, for a form.
func (e *apiError) FieldMessages() []string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		for _, m := range e.Fields[name] {
			out = append(out, name+": "+m)
		}
	}
	return out
}

// client calls the API as one signed-in user.
type client struct {
	http       *http.Client
	token      string
	remoteAddr string
}

// envelope is the API's answer shape.
type envelope[T any] struct {
	Data         T      `json:"data"`
	Revision     string `json:"revision"`
	NextStartKey string `json:"next_start_key"`
}

// call sends one request. body, when not nil, is sent as {"data": body};
// headers are extra request headers. out receives the decoded envelope.
func (c *client) call(ctx context.Context, method, path string, query url.Values, body any, headers map[string]string, out any) (int, error) {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(map[string]any{"data": body})
		if err != nil {
			return 0, err
		}
		reader = bytes.NewReader(raw)
	}
	u := "http://api.internal" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reader)
	if err != nil {
		return 0, err
	}
	req.RemoteAddr = c.remoteAddr
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, decodeError(resp.StatusCode, raw)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode API answer to %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func decodeError(status int, raw []byte) *apiError {
	var body struct {
		Message string                                `json:"message"`
		Data    map[string]map[string]json.RawMessage `json:"data"`
	}
	e := &apiError{Status: status, Message: http.StatusText(status)}
	if json.Unmarshal(raw, &body) != nil {
		return e
	}
	if body.Message != "" {
		e.Message = body.Message
	}
	for field, rules := range body.Data {
		for _, rule := range rules {
			var r struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(rule, &r) == nil && r.Message != "" {
				if e.Fields == nil {
					e.Fields = map[string][]string{}
				}
				e.Fields[field] = append(e.Fields[field], r.Message)
			}
		}
	}
	for _, msgs := range e.Fields {
		sort.Strings(msgs)
	}
	return e
}

// accountPath is /v1/accounts/{id} followed by the rest, each part escaped.
func accountPath(accountID string, rest ...string) string {
	parts := []string{"/v1/accounts", url.PathEscape(accountID)}
	for _, r := range rest {
		parts = append(parts, url.PathEscape(r))
	}
	return strings.Join(parts, "/")
}
