package natsauth_test

import (
	"maps"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
)

// FuzzParseSecrets: any file either fails to parse or parses into users
// whose formatted form parses back to the same passwords.
func FuzzParseSecrets(f *testing.F) {
	f.Add("# comment\nsvc-api=abc\n\npbx-acme=x=y\n")
	f.Add("=missing-user\n")
	f.Add("svc-api=\n")
	f.Add("  svc-api = spaced  \r\n")
	f.Fuzz(func(t *testing.T, text string) {
		parsed, err := natsauth.ParseSecrets(text)
		if err != nil {
			return
		}
		again, err := natsauth.ParseSecrets(natsauth.FormatSecrets(parsed))
		if err != nil {
			t.Fatalf("formatted secrets do not parse: %v", err)
		}
		if !maps.Equal(parsed, again) {
			t.Fatalf("round trip changed %v into %v", parsed, again)
		}
	})
}
