package adapter

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

// AnyAccount is the account token of a subject (pbx.freeswitch.any,
// pbx.ari.any) or HTTP path (/v1/accounts/any/events/freeswitch) shared by
// many accounts: a multi-tenant PBX publishes there and names each event's
// account in a channel variable. It is therefore never a real account id.
const AnyAccount = "any"

// ErrIgnored marks well-formed input that carries nothing pbxhooks turns
// into an event (a FreeSWITCH HEARTBEAT, an ARI PlaybackStarted, ...). A PBX
// is usually configured to send everything, so such input is acknowledged
// and dropped, not dead-lettered: it is not a mistake to fix.
var ErrIgnored = errors.New("event type not handled by pbxhooks")

// Ignored wraps ErrIgnored with what was ignored, for the debug log.
func Ignored(what string) error { return fmt.Errorf("%w: %s", ErrIgnored, what) }

// ResolveAccount decides whose event this is. routeAccount comes from the
// subject or HTTP path; fromEvent is the channel variable varName, empty
// when the event does not carry it.
//
// A specific route account is authoritative, because NATS permissions and
// HTTP credentials are granted per route: an event cannot move itself into
// another account by naming it, so a variable that names a different
// account is rejected as a misconfiguration. On the shared AnyAccount route
// the variable is required.
func ResolveAccount(routeAccount, fromEvent, varName string) (string, *ValidationError) {
	if routeAccount != AnyAccount {
		if err := event.ValidateAccountID(routeAccount); err != nil {
			return "", Invalid("account_id", RulePattern, err.Error())
		}
		if fromEvent != "" && fromEvent != routeAccount {
			return "", Invalid(varName, RuleEnum, fmt.Sprintf("%s names account %q but the event was sent for account %q", varName, truncate(fromEvent, 80), routeAccount))
		}
		return routeAccount, nil
	}
	if fromEvent == "" {
		return "", Invalid(varName, RuleRequired, fmt.Sprintf("%s is required for events sent to the shared account %q; set the channel variable or send to the account's own route", varName, AnyAccount))
	}
	if err := event.ValidateAccountID(fromEvent); err != nil || fromEvent == AnyAccount {
		return "", Invalid(varName, RulePattern, fmt.Sprintf("%s must name a real account: %q is not one", varName, truncate(fromEvent, 80)))
	}
	return fromEvent, nil
}

// DigestID derives an event id from the parts that identify a source
// event, so the same source event sent twice gets the same id and is
// stored once. Parts are length-prefixed so no two lists collide.
func DigestID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// MaxIDBytes bounds an event id taken from the PBX.
const MaxIDBytes = 128

// IsPrintableID reports whether a PBX-given id can be used as an event id:
// printable ASCII without spaces (it becomes part of the Nats-Msg-Id header
// and of log lines), at most MaxIDBytes.
func IsPrintableID(id string) bool {
	if id == "" || len(id) > MaxIDBytes {
		return false
	}
	for i := range len(id) {
		if id[i] < '!' || id[i] > '~' {
			return false
		}
	}
	return true
}

// Clip shortens s to at most n bytes on a UTF-8 boundary. Display fields
// (caller names and numbers) are clipped rather than rejected: a long
// caller name does not make a call event wrong.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// Cutting may split the last character; drop its leading bytes so the
	// result stays valid UTF-8 (protobuf strings must be).
	for len(s) > 0 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
