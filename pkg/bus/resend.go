package bus

import (
	"errors"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// SubjectResendRequests is where the API asks the matcher to deliver one
// stored event to one hook again (POST .../deliveries/{delivery_id}/resend):
// a core NATS request, answered by one matcher replica (QueueMatcher) with a
// ResendReply once the delivery is stored on DELIVERIES. Attempt rows keep
// no request bodies, so the payload is rendered again from the event, which
// EVENTS keeps for its retention.
const SubjectResendRequests = "matcher.resend"

// QueueMatcher is the queue group of the matcher's request subscriptions,
// so one replica answers each request.
const QueueMatcher = "matcher"

// ResendRequest is the JSON body of a SubjectResendRequests request.
type ResendRequest struct {
	AccountID string `json:"account_id"`
	HookID    string `json:"hook_id"`
	EventID   string `json:"event_id"`
	// ResendID is new for each resend the API accepts; it makes the
	// DELIVERIES message id (ResendMsgID), so a request repeated after a
	// lost reply is stored once, and never collides with the original
	// delivery's id inside the dedupe window.
	ResendID string `json:"resend_id"`
	// EventStoredBefore bounds the search of EVENTS: the event was stored
	// before the delivery's first attempt (the API passes that attempt's
	// time; the matcher allows for clock skew).
	EventStoredBefore time.Time `json:"event_stored_before"`
}

// Valid reports whether every member that becomes part of a subject or an
// id is usable.
func (r ResendRequest) Valid() error {
	if err := event.ValidateAccountID(r.AccountID); err != nil {
		return err
	}
	if err := ValidateToken(r.HookID); err != nil {
		return err
	}
	if err := ValidateToken(r.ResendID); err != nil {
		return err
	}
	if r.EventID == "" || len(r.EventID) > 256 || r.EventStoredBefore.IsZero() {
		return errInvalidResend
	}
	return nil
}

var errInvalidResend = errors.New("resend request: the event id (1-256 bytes) and the time bound are required")

// ResendReply answers a ResendRequest. Empty Error: the delivery is stored
// on DELIVERIES (or was already, for a repeated request).
type ResendReply struct {
	// Error says why not. NotFound marks the causes a retry cannot fix:
	// the event is no longer in EVENTS, or the hook is gone.
	Error    string `json:"error,omitempty"`
	NotFound bool   `json:"not_found,omitempty"`
}

// ResendMsgID is the Nats-Msg-Id of a resent delivery on DELIVERIES.
func ResendMsgID(resendID, deliveryID string) string { return "resend/" + resendID + "/" + deliveryID }

// AccountEventsSubject is events.<account_id>.>: every event of one account.
func AccountEventsSubject(accountID string) (string, error) {
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return "events." + accountID + ".>", nil
}
