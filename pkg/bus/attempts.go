package bus

import (
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// AttemptNotice is the JSON body of attempts.<account_id>.<hook_id> (core
// NATS), published by the deliverer after each attempt is recorded in
// PostgreSQL, so the API's live stream shows deliveries as they happen. It
// is a notice, not the record: nothing stores it, a subscriber that is away
// misses it, and the attempts table stays the truth (GET .../attempts).
type AttemptNotice struct {
	// ID is left empty: the deliverer learns no row id from its batched COPY.
	AccountID  string    `json:"account_id"`
	HookID     string    `json:"hook_id"`
	EventID    string    `json:"event_id"`
	DeliveryID string    `json:"delivery_id"`
	Attempt    int32     `json:"attempt"`
	Result     string    `json:"result"`
	Reason     string    `json:"reason"`
	Status     int32     `json:"response_status,omitempty"`
	LatencyMs  int32     `json:"latency_ms"`
	At         time.Time `json:"timestamp"`
}

// AttemptNoticeSubject is attempts.<account_id>.<hook_id>: account first so
// a subscription (and a NATS permission) can be scoped to one tenant, then
// the hook so a subscriber can filter on it.
func AttemptNoticeSubject(accountID, hookID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	if err := ValidateToken(hookID); err != nil {
		return "", err
	}
	return "attempts." + accountID + "." + hookID, nil
}

// AccountAttemptNotices matches one account's attempt notices.
func AccountAttemptNotices(accountID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return "attempts." + accountID + ".*", nil
}

// AttemptNoticesAll matches every account's attempt notices.
const AttemptNoticesAll = "attempts.*.*"

// AccountEvents matches one account's canonical events on EVENTS (events.
// <account_id>.>), for a core NATS subscription that sees each event as it
// is stored.
func AccountEvents(accountID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return "events." + accountID + ".>", nil
}
