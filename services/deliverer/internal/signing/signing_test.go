package signing_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/signing"
)

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

func headers(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(signing.HeaderID, id)
	h.Set(signing.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(signing.HeaderSignature, sig)
	return h
}

func TestSignatureMatchesTheReferenceLibrary(t *testing.T) {
	t.Parallel()
	keyA, err := signing.ParseSecret(secretA)
	if err != nil {
		t.Fatal(err)
	}
	keyB, err := signing.ParseSecret(secretB)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"a":1}`)
	ref, _ := standardwebhooks.NewWebhook(secretA)
	want, _ := ref.Sign("ev1:hk1", now, body)
	got, err := signing.Signature([]signing.Key{keyA}, "ev1:hk1", now, body)
	if err != nil || got != want {
		t.Fatalf("Signature = %q, %v; reference library says %q", got, err, want)
	}

	both, err := signing.Signature([]signing.Key{keyB, keyA}, "ev1:hk1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secretA, secretB} {
		wh, _ := standardwebhooks.NewWebhook(s)
		if err := wh.Verify(body, headers("ev1:hk1", now, both)); err != nil {
			t.Errorf("overlap signature does not verify with %s: %v", s, err)
		}
	}
}

func TestParseSecretRejectsMalformedSecrets(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"} {
		if _, err := signing.ParseSecret(s); !errors.Is(err, signing.ErrInvalidSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrInvalidSecret", s, err)
		}
	}
}
