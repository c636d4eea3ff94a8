package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The README's "Try it with curl" requests, in its order: create a hook,
// list and read it, edit it, add a custom_data hook, make a PBX token, send a
// call event to ingest with it, see both callbacks arrive, read the
// attempts, delete the hooks.
const (
	account    = "demo"
	callID     = "4922199999936@88.99.77.55"
	eventBody  = `{"event":"channel_create","call_id":"` + callID + `","direction":"inbound","from":"user_37ccch@www.wirecloud.de","to":"*97@www.wirecloud.de","request":"*97@www.wirecloud.de"}`
	flowWait   = 90 * time.Second
	pollPeriod = 500 * time.Millisecond
)

func runFlow(ctx context.Context, c *composeStack) error {
	gw, err := c.gateway(ctx)
	if err != nil {
		return err
	}
	recv, err := startReceiver(gw)
	if err != nil {
		return err
	}
	defer recv.Close()
	receiverURL := "http://" + recv.ln.Addr().String()
	fmt.Printf("API %s, ingest %s, receiver %s (the host, as the containers see it)\n", c.apiURL, c.ingestURL, receiverURL)

	api := newClient(c.apiURL + "/v1/accounts/" + account)
	hooks := api.base + "/webhooks"

	var created struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := api.call(ctx, http.MethodPut, hooks, `{"data":{"name":"New Calls", "uri":"`+receiverURL+`/calls/new.php", "http_verb":"post", "hook":"channel_create", "retries":3}}`, http.StatusCreated, &created); err != nil {
		return err
	}
	first := created.Data.ID
	if first == "" {
		return errors.New("create hook: the answer has no data.id")
	}

	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := api.call(ctx, http.MethodGet, hooks, "", http.StatusOK, &list); err != nil {
		return err
	}
	if len(list.Data) != 1 || list.Data[0].ID != first {
		return fmt.Errorf("list hooks: want just %s, got %+v", first, list.Data)
	}
	if err := api.call(ctx, http.MethodGet, hooks+"/"+first, "", http.StatusOK, nil); err != nil {
		return err
	}
	if err := api.call(ctx, http.MethodPost, hooks+"/"+first, `{"data":{"name":"New Calls", "uri":"`+receiverURL+`/calls/new_call.php", "http_verb":"post", "hook":"channel_create", "retries":3}}`, http.StatusOK, nil); err != nil {
		return err
	}
	if err := api.call(ctx, http.MethodPut, hooks, `{"data":{"name":"New Calls", "uri":"`+receiverURL+`/calls/new.php", "http_verb":"post", "hook":"channel_create", "retries":3, "custom_data": {"account_id": "my_crm_account_id", "screen_pop": true}}}`, http.StatusCreated, &created); err != nil {
		return err
	}
	second := created.Data.ID

	// The PBX's credential: a token of the account with scope pbx, shown
	// once by the create.
	var token struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := api.call(ctx, http.MethodPut, api.base+"/tokens", `{"data":{"name":"pbx-east","scopes":["pbx"]}}`, http.StatusCreated, &token); err != nil {
		return err
	}
	if token.Data.Token == "" {
		return errors.New("create token: the answer has no data.token")
	}
	ingest := newClient(c.ingestURL)
	ingest.bearer = token.Data.Token
	if err := ingest.call(ctx, http.MethodPost, ingest.base+"/v1/accounts/"+account+"/events", eventBody, http.StatusAccepted, nil); err != nil {
		return err
	}

	callbacks, err := recv.waitFor(ctx, 2)
	if err != nil {
		return err
	}
	if err := checkCallbacks(callbacks); err != nil {
		return err
	}

	// The deliverer writes the attempt rows after the callback returns.
	if err := waitForAttempts(ctx, api, hooks+"/attempts", 2); err != nil {
		return err
	}
	for _, id := range []string{first, second} {
		if err := waitForAttempts(ctx, api, hooks+"/"+id+"/attempts", 1); err != nil {
			return err
		}
		if err := api.call(ctx, http.MethodDelete, hooks+"/"+id, "", http.StatusOK, nil); err != nil {
			return err
		}
	}
	return api.call(ctx, http.MethodGet, hooks+"/"+first, "", http.StatusNotFound, nil)
}

// checkCallbacks wants the edited hook's form-encoded callback and the
// custom_data hook's, whose fields win over the event's.
func checkCallbacks(got []callback) error {
	byPath := map[string]url.Values{}
	for _, cb := range got {
		if cb.method != http.MethodPost {
			return fmt.Errorf("callback to %s came as %s, want POST", cb.path, cb.method)
		}
		form, err := url.ParseQuery(cb.body)
		if err != nil {
			return fmt.Errorf("callback to %s is not form-encoded: %w: %q", cb.path, err, cb.body)
		}
		byPath[cb.path] = form
		fmt.Printf("callback POST %s %s\n", cb.path, cb.body)
	}
	edited, custom := byPath["/calls/new_call.php"], byPath["/calls/new.php"]
	switch {
	case edited == nil || custom == nil:
		return fmt.Errorf("want one callback to /calls/new_call.php and one to /calls/new.php, got %v", got)
	case edited.Get("call_id") != callID || custom.Get("call_id") != callID:
		return fmt.Errorf("callbacks name call_id %q and %q, want %q", edited.Get("call_id"), custom.Get("call_id"), callID)
	case edited.Get("hook_event") != "channel_create":
		return fmt.Errorf("hook_event %q, want channel_create", edited.Get("hook_event"))
	case edited.Get("account_id") != account:
		return fmt.Errorf("the plain hook's account_id is %q, want %q", edited.Get("account_id"), account)
	case custom.Get("account_id") != "my_crm_account_id" || custom.Get("screen_pop") != "true":
		return fmt.Errorf("custom_data not merged over the event: account_id %q, screen_pop %q", custom.Get("account_id"), custom.Get("screen_pop"))
	}
	return nil
}

func waitForAttempts(ctx context.Context, api *client, path string, want int) error {
	deadline := time.Now().Add(flowWait)
	for {
		var page struct {
			Data []struct {
				Result string `json:"result"`
			} `json:"data"`
		}
		if err := api.call(ctx, http.MethodGet, path, "", http.StatusOK, &page); err != nil {
			return err
		}
		ok := 0
		for _, a := range page.Data {
			if a.Result == "success" {
				ok++
			}
		}
		if ok >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET %s: %d successful attempts after %s, want %d: %+v", path, ok, flowWait, want, page.Data)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollPeriod):
		}
	}
}

// client sends the README's requests: with the admin token, or as a PBX
// with its bearer token.
type client struct {
	base   string
	bearer string
	http   *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c *client) call(ctx context.Context, method, url, body string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	} else {
		req.Header.Set("X-Auth-Token", adminToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, url, err)
	}
	fmt.Printf("%s %s -> %d\n", method, url, resp.StatusCode)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w: %s", method, url, err, raw)
		}
	}
	return nil
}

// receiver is the README's throwaway receiver, on the address the containers
// reach the host by.
type receiver struct {
	ln     net.Listener
	server *http.Server

	mu    sync.Mutex
	calls []callback
	added chan struct{} // closed and replaced on every callback
}

type callback struct {
	method, path, body string
}

func startReceiver(host string) (*receiver, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("receiver on %s: %w", host, err)
	}
	r := &receiver{ln: ln, added: make(chan struct{})}
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.server.Serve(ln) }()
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	r.calls = append(r.calls, callback{method: req.Method, path: req.URL.Path, body: string(bytes.TrimSpace(body))})
	close(r.added)
	r.added = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// waitFor returns the callbacks once n have come.
func (r *receiver) waitFor(ctx context.Context, n int) ([]callback, error) {
	timeout := time.After(flowWait)
	for {
		r.mu.Lock()
		calls, added := append([]callback(nil), r.calls...), r.added
		r.mu.Unlock()
		if len(calls) >= n {
			return calls, nil
		}
		select {
		case <-added:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout:
			return nil, fmt.Errorf("%d callbacks within %s, want %d: %v", len(calls), flowWait, n, calls)
		}
	}
}

func (r *receiver) Close() { _ = r.server.Close() }
