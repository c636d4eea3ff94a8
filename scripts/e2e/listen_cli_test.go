package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// buildCLI compiles bin/pbxhooks for the test.
func buildCLI(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "pbxhooks")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cli/cmd/pbxhooks")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the CLI: %v\n%s", err, out)
	}
	return bin
}

// TestListenCommandPrintsDeliveriesAndCtrlCRemovesTheRelayHook runs the
// real `pbxhooks listen` binary: its printed secret verifies the forwarded
// request, it prints one JSON line per delivery, and SIGINT ends it with
// exit 0 and the relay hook removed.
func TestListenCommandPrintsDeliveriesAndCtrlCRemovesTheRelayHook(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	bin := buildCLI(t)
	const account = "acct-listen-cli"
	token := relayAccountToken(t, st, account)

	secret := make(chan string, 1)
	var printed string
	recv := &signedReceiver{secret: func() string {
		if printed == "" {
			printed = <-secret
		}
		return printed
	}}
	local := httptest.NewServer(recv)
	defer local.Close()

	cmd := exec.CommandContext(t.Context(), bin, "listen", "--api", st.URL("api"), "--token", token, "--account", account,
		"--forward-to", local.URL+"/hooks", "--hook", "channel_create", "--print-secret", "--output", "json")
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	next := func(out any) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("listen printed no further line: %v", lines.Err())
		}
		if err := json.Unmarshal(lines.Bytes(), out); err != nil {
			t.Fatalf("line %q is not JSON: %v", lines.Bytes(), err)
		}
	}
	var ready struct {
		Type   string `json:"type"`
		HookID string `json:"hook_id"`
		Hook   string `json:"hook"`
		Secret string `json:"secret"`
	}
	next(&ready)
	if ready.Type != "ready" || ready.HookID == "" || ready.Hook != "channel_create" || ready.Secret == "" {
		t.Fatalf("ready line %+v", ready)
	}
	secret <- ready.Secret

	publishChannelCreate(t, st, account, "listen-cli-evt-1", "listen-cli-call-1")
	var delivery struct {
		Type      string `json:"type"`
		WebhookID string `json:"webhook_id"`
		Event     string `json:"event"`
		Call      string `json:"call"`
		Code      int    `json:"code"`
	}
	next(&delivery)
	if delivery.Type != "delivery" || delivery.Event != "channel_create" || delivery.Call != "listen-cli-call-1" ||
		delivery.Code != http.StatusOK || delivery.WebhookID == "" {
		t.Fatalf("delivery line %+v", delivery)
	}
	calls, verified := recv.snapshot()
	if calls != 1 || verified[0] != nil {
		t.Fatalf("local endpoint: %d calls, verification with the printed secret: %v", calls, verified)
	}
	testenv.Eventually(t, 15*time.Second, "the success attempt recorded", func() bool {
		a := hookAttempts(t, st, account, ready.HookID)
		return len(a) == 1 && a[0].Result == "success" && a[0].Response != nil && a[0].Response.Status == http.StatusOK
	})

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("listen after Ctrl-C: %v, want exit 0", err)
	}
	testenv.Eventually(t, 15*time.Second, "the relay hook removed", func() bool {
		return len(listHooks(t, st, account)) == 0
	})
}
