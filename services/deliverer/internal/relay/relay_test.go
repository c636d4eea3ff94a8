package relay_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pbxhooks/pbxhooks/pkg/bus"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/deliver"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/relay"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

const (
	account = "acct-relay"
	hookID  = "0123456789abcdef0123456789abcdef"
)

func newRequest(t *testing.T, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://localhost:3000/hooks", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(deliver.HeaderAccountID, account)
	req.Header.Set(deliver.HeaderHookID, hookID)
	req.Header.Set("Webhook-Signature", "v1,sig")
	return req
}

// answer makes nc answer the relay hook's requests with reply(request).
func answer(t *testing.T, nc *nats.Conn, reply func(bus.RelayRequest) any) {
	t.Helper()
	subject, err := bus.RelaySubject(account, hookID)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var req bus.RelayRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("request is not a RelayRequest: %v", err)
			return
		}
		data, _ := json.Marshal(reply(req))
		m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestRelayedRequestGetsTheListenersResponse(t *testing.T) {
	t.Parallel()
	_, nc, _ := testenv.JetStream(t)
	answer(t, nc, func(req bus.RelayRequest) any {
		if req.Method != http.MethodPost || req.URL != "http://localhost:3000/hooks" ||
			req.Header.Get("Webhook-Signature") != "v1,sig" || string(req.Body) != `{"a":1}` {
			t.Errorf("relayed request %+v", req)
		}
		return bus.RelayResponse{Status: http.StatusTeapot, Header: http.Header{"X-Local": {"1"}}, Body: []byte("short and stout")}
	})
	resp, err := relay.NewClient(nc, 10*time.Second).Do(newRequest(t, `{"a":1}`))
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Local") != "1" || string(body) != "short and stout" {
		t.Fatalf("response %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

func TestRelayFailuresAreTransportErrors(t *testing.T) {
	t.Parallel()
	_, nc, _ := testenv.JetStream(t)
	client := relay.NewClient(nc, 10*time.Second)

	if _, err := client.Do(newRequest(t, "x")); !errors.Is(err, relay.ErrNoListener) {
		t.Fatalf("no listener: %v, want ErrNoListener", err)
	}
	answer(t, nc, func(bus.RelayRequest) any {
		return bus.RelayResponse{Error: "dial tcp 127.0.0.1:3000: connection refused"}
	})
	if _, err := client.Do(newRequest(t, "x")); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("local endpoint down: %v", err)
	}
}

func TestRelayRefusesAnOutOfBoundsResponse(t *testing.T) {
	t.Parallel()
	_, nc, _ := testenv.JetStream(t)
	answer(t, nc, func(bus.RelayRequest) any {
		return bus.RelayResponse{Status: http.StatusOK, Body: make([]byte, bus.MaxRelayResponseBody+1)}
	})
	if _, err := relay.NewClient(nc, 10*time.Second).Do(newRequest(t, "x")); err == nil {
		t.Fatal("an oversized response was accepted")
	}
}
