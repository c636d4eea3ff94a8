package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// resendDelivery asks the API to send one delivery again (same webhook-id,
// a new attempt) and returns to the deliveries page filtered to its hook.
func (c *Console) resendDelivery(rq *request) {
	deliveryID := rq.r.PathValue("delivery")
	var env envelope[struct {
		HookID   string `json:"hook_id"`
		ResendID string `json:"resend_id"`
	}]
	if _, err := rq.api.call(rq.ctx(), http.MethodPost, accountPath(rq.account, "deliveries", deliveryID, "resend"), nil, nil, nil, &env); err != nil {
		rq.fail(err)
		return
	}
	rq.redirect("deliveries?hook_id="+url.QueryEscape(env.Data.HookID),
		"Resend of "+deliveryID+" queued; its attempt appears here when the receiver has answered.")
}

// recovered is the API's answer to a recover.
type recovered struct {
	Since      string `json:"since"`
	DryRun     bool   `json:"dry_run"`
	Deliveries []struct {
		DeliveryID    string `json:"delivery_id"`
		LastAttempt   int    `json:"last_attempt"`
		LastAttemptAt string `json:"last_attempt_at"`
		Resent        bool   `json:"resent"`
		Error         string `json:"error"`
	} `json:"deliveries"`
	Truncated bool `json:"truncated"`
}

// recoverHook resends (or, as a dry run, lists) the hook's failed
// deliveries since a time, and shows the answer on the hook's page.
func (c *Console) recoverHook(rq *request) {
	id := rq.r.PathValue("hook")
	since := strings.TrimSpace(rq.r.PostForm.Get("since"))
	if t, err := time.Parse(datetimeLocal, since); err == nil {
		since = t.UTC().Format(time.RFC3339)
	}
	var env envelope[recovered]
	_, err := rq.api.call(rq.ctx(), http.MethodPost, accountPath(rq.account, "webhooks", id, "recover"), nil,
		map[string]any{"since": since, "dry_run": rq.r.PostForm.Get("dry_run") == "on"}, nil, &env)
	if err != nil {
		if ae := invalid(err); ae != nil {
			c.showHook(rq, id, &hookNews{Problem: ae})
			return
		}
		rq.fail(err)
		return
	}
	c.showHook(rq, id, &hookNews{Recovered: &env.Data})
}
