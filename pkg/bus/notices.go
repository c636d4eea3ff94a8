package bus

import (
	"fmt"
	"strings"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// HookChange is the JSON body of hooks.changed.<account_id>, published by
// the API after every change to a hook or to a setting all of an account's
// hooks follow (then HookID is empty), and by the deliverer when it disables
// a hook. Subscribers reload the account named by the subject on any
// message; the members help logs and tracing.
type HookChange struct {
	AccountID string `json:"account_id"`
	HookID    string `json:"hook_id"`
	// Change says what happened, for logs: from the API "created",
	// "updated", "deleted", "secret_rotated", "re-enabled" or
	// "delivery_settings"; from the deliverer "disabled".
	Change   string `json:"change"`
	Revision int64  `json:"revision"`
}

// HookDisabled is the JSON body of hooks.disabled.<account_id>, published by
// the deliverer when it disables a hook after repeated failures.
type HookDisabled struct {
	AccountID  string    `json:"account_id"`
	HookID     string    `json:"hook_id"`
	Reason     string    `json:"reason"`
	Revision   int64     `json:"revision"`
	DisabledAt time.Time `json:"disabled_at"`
}

// HooksChangedAccount returns the account a hooks.changed.<account_id>
// subject names, or an error when subject is not one (any publisher may
// reach the subscription, so the token is validated before it is used as
// an account id).
func HooksChangedAccount(subject string) (string, error) {
	accountID, ok := strings.CutPrefix(subject, hooksChangedPrefix)
	if !ok {
		return "", fmt.Errorf("%.80q is not a hooks.changed subject", subject)
	}
	if err := event.ValidateAccountID(accountID); err != nil {
		return "", err
	}
	return accountID, nil
}
