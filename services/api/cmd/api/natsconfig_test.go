package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/natsauth"
)

func TestNATSConfigKeepsPasswordsAcrossRuns(t *testing.T) {
	t.Parallel()
	secrets := filepath.Join(t.TempDir(), "nats.secrets")
	var first strings.Builder
	if err := natsConfig([]string{"--secrets", secrets, "--account", "acme"}, &first); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"svc-api", "svc-ingest", "svc-matcher", "svc-deliverer", "pbx-acme"} {
		if !strings.Contains(first.String(), `user: "`+user+`"`) {
			t.Fatalf("no user %s in\n%s", user, first.String())
		}
	}
	st, err := os.Stat(secrets)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(secrets)
	before, err := natsauth.ParseSecrets(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(first.String(), before["pbx-acme"]) {
		t.Fatal("the configuration holds a clear password")
	}

	var second strings.Builder
	if err := natsConfig([]string{"--secrets", secrets, "--account", "acme", "--account", "globex"}, &second); err != nil {
		t.Fatal(err)
	}
	raw, _ = os.ReadFile(secrets)
	after, err := natsauth.ParseSecrets(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	for user, pw := range before {
		if after[user] != pw {
			t.Fatalf("password of %s changed on the second run", user)
		}
	}
	if after["pbx-globex"] == "" || !strings.Contains(second.String(), `"pbx.events.globex"`) {
		t.Fatal("the second run did not add globex")
	}

	for _, bad := range [][]string{{}, {"--account", "acme"}, {"--secrets", secrets, "--account", "a.b"}, {"--secrets", secrets, "extra"}} {
		if err := natsConfig(bad, &strings.Builder{}); err == nil {
			t.Fatalf("nats-config %v: no error", bad)
		}
	}
}
