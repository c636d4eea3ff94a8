package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
)

// switchableReceiver records callbacks and answers with status, which the
// test changes while it runs.
type switchableReceiver struct {
	status atomic.Int32
	mu     sync.Mutex
	calls  []teststack.Callback
}

func (r *switchableReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.calls = append(r.calls, teststack.Callback{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	r.mu.Unlock()
	w.WriteHeader(int(r.status.Load()))
}

func (r *switchableReceiver) Calls() []teststack.Callback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]teststack.Callback(nil), r.calls...)
}

type attemptsPage struct {
	Data []struct {
		DeliveryID string `json:"delivery_id"`
		Attempt    int    `json:"attempt"`
		Result     string `json:"result"`
	} `json:"data"`
}

// TestResendAndRecoverDeliverAgainWithTheSameWebhookID runs a delivery,
// resends it, then lets a hook fail and recovers it, all through the real
// services: each resend reaches the receiver with the delivery's
// webhook-id and the same payload, and the attempt rows number on.
func TestResendAndRecoverDeliverAgainWithTheSameWebhookID(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	recv := &switchableReceiver{}
	recv.status.Store(http.StatusOK)
	target := httptest.NewServer(recv)
	defer target.Close()
	const account = "acct-resend"

	var created struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if status := st.API(t, http.MethodPut, "/v1/accounts/"+account+"/webhooks",
		`{"data":{"name":"Calls","uri":"`+target.URL+`/calls","hook":"channel_create","format":"json","retries":0}}`, &created); status != http.StatusCreated {
		t.Fatalf("create hook: %d", status)
	}
	hookID := created.Data.ID
	if _, err := st.JS.Publish(t.Context(), "pbx.events."+account,
		[]byte(`{"event":"channel_create","id":"resend-evt-1","call_id":"call-resend-1","direction":"inbound","from":"+15550100","to":"+15550199"}`)); err != nil {
		t.Fatal(err)
	}
	first := waitFor(t, 30*time.Second, "the first callback", func() ([]teststack.Callback, bool) {
		c := recv.Calls()
		return c, len(c) == 1
	})[0]
	deliveryID := "resend-evt-1:" + hookID
	if got := first.Header.Get("webhook-id"); got != deliveryID {
		t.Fatalf("webhook-id %q, want the delivery id %q", got, deliveryID)
	}
	attempts := func(n int) attemptsPage {
		return waitFor(t, 30*time.Second, "attempt rows", func() (attemptsPage, bool) {
			var page attemptsPage
			st.API(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+hookID+"/attempts", "", &page)
			return page, len(page.Data) >= n
		})
	}
	attempts(1)

	var resent struct {
		Data struct {
			DeliveryID string `json:"delivery_id"`
		} `json:"data"`
	}
	if status := st.API(t, http.MethodPost, "/v1/accounts/"+account+"/deliveries/"+deliveryID+"/resend", "", &resent); status != http.StatusAccepted || resent.Data.DeliveryID != deliveryID {
		t.Fatalf("resend: status %d, %+v", status, resent)
	}
	second := waitFor(t, 30*time.Second, "the resent callback", func() ([]teststack.Callback, bool) {
		c := recv.Calls()
		return c, len(c) == 2
	})[1]
	if got := second.Header.Get("webhook-id"); got != deliveryID {
		t.Errorf("resent webhook-id %q, want %q", got, deliveryID)
	}
	if string(second.Body) != string(first.Body) {
		t.Errorf("resent body %s differs from the first %s", second.Body, first.Body)
	}
	page := attempts(2)
	if len(page.Data) != 2 || page.Data[0].Attempt != 2 || page.Data[0].DeliveryID != deliveryID || page.Data[0].Result != "success" {
		t.Fatalf("attempts after the resend: %+v, want attempt 2 of %s newest first", page.Data, deliveryID)
	}

	// A failing endpoint, then recovered: the failed delivery is listed by
	// a dry run and delivered by a recover.
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	recv.status.Store(http.StatusInternalServerError)
	if _, err := st.JS.Publish(t.Context(), "pbx.events."+account,
		[]byte(`{"event":"channel_create","id":"resend-evt-2","call_id":"call-resend-2","direction":"inbound","from":"+15550100","to":"+15550199"}`)); err != nil {
		t.Fatal(err)
	}
	failedID := "resend-evt-2:" + hookID
	waitFor(t, 30*time.Second, "the failed attempt", func() (struct{}, bool) {
		var page attemptsPage
		st.API(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+hookID+"/attempts?result=failure", "", &page)
		return struct{}{}, len(page.Data) == 1 && page.Data[0].DeliveryID == failedID
	})
	type recovered struct {
		Data struct {
			Deliveries []struct {
				DeliveryID string `json:"delivery_id"`
				Resent     bool   `json:"resent"`
				Error      string `json:"error"`
			} `json:"deliveries"`
		} `json:"data"`
	}
	var dry recovered
	if status := st.API(t, http.MethodPost, "/v1/accounts/"+account+"/webhooks/"+hookID+"/recover",
		`{"data":{"since":"`+since+`","dry_run":true}}`, &dry); status != http.StatusOK ||
		len(dry.Data.Deliveries) != 1 || dry.Data.Deliveries[0].DeliveryID != failedID || dry.Data.Deliveries[0].Resent {
		t.Fatalf("dry run: status %d, %+v", status, dry)
	}
	recv.status.Store(http.StatusOK)
	var done recovered
	if status := st.API(t, http.MethodPost, "/v1/accounts/"+account+"/webhooks/"+hookID+"/recover",
		`{"data":{"since":"`+since+`"}}`, &done); status != http.StatusAccepted ||
		len(done.Data.Deliveries) != 1 || !done.Data.Deliveries[0].Resent {
		t.Fatalf("recover: status %d, %+v", status, done)
	}
	calls := waitFor(t, 30*time.Second, "the recovered callback", func() ([]teststack.Callback, bool) {
		c := recv.Calls()
		return c, len(c) == 4
	})
	if calls[2].Header.Get("webhook-id") != failedID || calls[3].Header.Get("webhook-id") != failedID || string(calls[2].Body) != string(calls[3].Body) {
		t.Errorf("recovered callback: webhook-ids %q, %q, want %q twice with the same body",
			calls[2].Header.Get("webhook-id"), calls[3].Header.Get("webhook-id"), failedID)
	}
	waitFor(t, 30*time.Second, "the recovered delivery's success row", func() (struct{}, bool) {
		var page attemptsPage
		st.API(t, http.MethodGet, "/v1/accounts/"+account+"/webhooks/"+hookID+"/attempts", "", &page)
		return struct{}{}, len(page.Data) == 4 && page.Data[0].DeliveryID == failedID && page.Data[0].Attempt == 2 && page.Data[0].Result == "success"
	})
	var after recovered
	st.API(t, http.MethodPost, "/v1/accounts/"+account+"/webhooks/"+hookID+"/recover", `{"data":{"since":"`+since+`","dry_run":true}}`, &after)
	if len(after.Data.Deliveries) != 0 {
		t.Errorf("after recovery, a dry run still lists %+v", after.Data.Deliveries)
	}
}
