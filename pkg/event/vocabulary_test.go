package event_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
)

func TestValidateAccountID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id    string
		valid bool
	}{
		{"a", true},
		{"acct_1-X", true},
		{"0123456789abcdef0123456789abcdef", true},
		{strings.Repeat("z", 64), true},
		{"", false},
		{strings.Repeat("z", 65), false},
		{"a.b", false},
		{"a*", false},
		{"a>", false},
		{"a b", false},
		{" a", false},
		{"a\n", false},
		{"a/b", false},
		{"a%2e", false},
		{"café", false},
		{"a\x00", false},
	} {
		err := event.ValidateAccountID(tc.id)
		if tc.valid && err != nil {
			t.Errorf("ValidateAccountID(%q) = %v, want ok", tc.id, err)
		}
		if !tc.valid && !errors.Is(err, event.ErrInvalidAccountID) {
			t.Errorf("ValidateAccountID(%q) = %v, want ErrInvalidAccountID", tc.id, err)
		}
	}
}

func TestValidateAccountIDBoundsItsMessage(t *testing.T) {
	t.Parallel()
	// Hostile input must not be echoed back whole into logs and responses.
	err := event.ValidateAccountID(strings.Repeat("x", 10_000))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error of %d bytes: %.120v", len(err.Error()), err)
	}
}

func TestVocabularyMembership(t *testing.T) {
	t.Parallel()
	for _, s := range event.CallStatuses {
		if !event.IsCallStatus(s) {
			t.Errorf("IsCallStatus(%q) = false", s)
		}
	}
	if event.IsCallStatus(event.StatusNone) {
		t.Error("StatusNone must not be subscribable")
	}
	for _, v := range []string{"", "RINGING", "ringing "} {
		if event.IsCallStatus(v) || event.IsCallType(v) || event.IsMediaType(v) || event.IsLifecycle(v) {
			t.Errorf("%q accepted", v)
		}
	}
	if !event.IsLifecycle(event.LifecycleChannelBridge) || !event.IsMediaType(event.MediaVoicemail) || !event.IsCallType(event.CallTypeOutgoing) {
		t.Error("known values rejected")
	}
}

func TestCallTypeForDirection(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string]string{
		event.DirectionOutbound: event.CallTypeOutgoing,
		event.DirectionInbound:  event.CallTypeIncoming,
		"":                      event.CallTypeIncoming,
		"sideways":              event.CallTypeIncoming,
	} {
		if got := event.CallTypeForDirection(dir); got != want {
			t.Errorf("CallTypeForDirection(%q) = %q, want %q", dir, got, want)
		}
	}
}
