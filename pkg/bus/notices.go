package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// PublishHookChange stores a hooks.changed notice on StreamHookChanges and
// returns once JetStream acknowledged it, so a client told "changed"
// afterwards can rely on every matcher seeing the notice's sequence before
// it matches an event the client sends next. header carries trace context;
// it may be nil.
func PublishHookChange(ctx context.Context, js jetstream.JetStream, notice HookChange, header nats.Header) error {
	body, err := json.Marshal(notice)
	if err != nil {
		return fmt.Errorf("encode hook change: %w", err)
	}
	msg := nats.NewMsg(HooksChangedSubject(notice.AccountID))
	msg.Data = body
	for k, v := range header {
		msg.Header[k] = v
	}
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish hook change of %s: %w", notice.AccountID, err)
	}
	return nil
}

// LatestHookChange is the stream sequence of the newest hooks.changed
// notice (0 when there is none yet): one direct get of the last message on
// HOOK_CHANGES, answered by the stream itself, not the JetStream API queue.
// The subject filter goes in the body (the client's last-by-subject helper
// would put the wildcard into the request subject, which NATS refuses).
func LatestHookChange(ctx context.Context, nc *nats.Conn) (uint64, error) {
	msg, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+StreamHookChanges, latestHookChangeRequest)
	if err != nil {
		return 0, fmt.Errorf("newest hook change: %w", err)
	}
	switch status := msg.Header.Get("Status"); status {
	case "":
	case "404":
		return 0, nil
	default:
		return 0, fmt.Errorf("newest hook change: status %s %s", status, msg.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(msg.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("newest hook change: bad %s header: %w", jetstream.SequenceHeader, err)
	}
	return seq, nil
}

var latestHookChangeRequest = []byte(`{"last_by_subj":"` + HooksChangedAll + `"}`)
