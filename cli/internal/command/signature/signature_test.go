package signature_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pbxhooks/pbxhooks/cli/internal/clitest"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/signature"
	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
)

// secret is a whsec_ secret as the API shows it (base64 of 24 bytes).
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// signed writes the headers and body of a callback signed at ts with
// secret, the way a receiver would save them, and returns their paths.
func signed(t *testing.T, body string, ts time.Time) (headersPath, bodyPath string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign("evt1:hook1", ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	headersPath, bodyPath = filepath.Join(dir, "headers.txt"), filepath.Join(dir, "body")
	headers := "POST /hooks HTTP/1.1\r\nContent-Type: application/json\r\nwebhook-id: evt1:hook1\r\n" +
		"webhook-timestamp: " + strconv.FormatInt(ts.Unix(), 10) + "\r\nwebhook-signature: v1,stale= " + sig + "\r\n\r\n"
	if err := os.WriteFile(headersPath, []byte(headers), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bodyPath, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return headersPath, bodyPath
}

func TestVerifyAcceptsSignedCallback(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	headers, body := signed(t, `{"type":"incoming_call","subtype":"missed"}`, now)
	var got signature.Result
	clitest.New(t).JSON(t, &got, "signature", "verify", "--secret", secret, "--headers-file", headers, "--body-file", body)
	if !got.Valid || got.WebhookID != "evt1:hook1" || !got.Timestamp.Equal(now) || !got.TimestampChecked {
		t.Errorf("result %+v", got)
	}
}

func TestVerifyReadsBodyFromStdin(t *testing.T) {
	t.Parallel()
	payload := "call_id=c1&hook_event=channel_create"
	headers, _ := signed(t, payload, time.Now())
	r := clitest.New(t).Run(t.Context(), payload, "signature", "verify", "--secret", secret, "--headers-file", headers, "--body-file", "-")
	if r.Code != exitcode.OK || !strings.Contains(r.Stdout, "Signature valid.") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
}

func TestVerifyRefusesTamperedBody(t *testing.T) {
	t.Parallel()
	headers, body := signed(t, `{"subtype":"missed"}`, time.Now())
	if err := os.WriteFile(body, []byte(`{"subtype":"answered"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := clitest.New(t).Run(t.Context(), "", "signature", "verify", "--secret", secret, "--headers-file", headers, "--body-file", body)
	if r.Code != exitcode.Failure || !strings.Contains(r.Stderr, "no signature matches") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
}

func TestVerifyRefusesOtherSecret(t *testing.T) {
	t.Parallel()
	headers, body := signed(t, "x", time.Now())
	r := clitest.New(t).Run(t.Context(), "", "signature", "verify", "--secret", "whsec_"+strings.Repeat("A", 32), "--headers-file", headers, "--body-file", body, "-o", "json")
	var doc exitcode.JSON
	if err := json.Unmarshal([]byte(r.Stderr), &doc); err != nil {
		t.Fatalf("stderr is not a JSON error: %v\n%s", err, r.Stderr)
	}
	if r.Code != exitcode.Failure || doc.Error.Kind != "failure" || r.Stdout != "" {
		t.Errorf("exit %d, error %+v, stdout %q", r.Code, doc.Error, r.Stdout)
	}
}

func TestVerifyOldTimestampNeedsIgnoreTimestamp(t *testing.T) {
	t.Parallel()
	headers, body := signed(t, "x", time.Now().Add(-time.Hour))
	cli := clitest.New(t)
	r := cli.Run(t.Context(), "", "signature", "verify", "--secret", secret, "--headers-file", headers, "--body-file", body)
	if r.Code != exitcode.Failure || !strings.Contains(r.Stderr, "older than 5 minutes") {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	var got signature.Result
	cli.JSON(t, &got, "signature", "verify", "--secret", secret, "--headers-file", headers, "--body-file", body, "--ignore-timestamp")
	if !got.Valid || got.TimestampChecked {
		t.Errorf("result %+v", got)
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	t.Parallel()
	headers, body := signed(t, "x", time.Now())
	cli := clitest.New(t)
	for _, args := range [][]string{
		{"signature", "verify", "--headers-file", headers, "--body-file", body},
		{"signature", "verify", "--secret", "whsec_!!notbase64", "--headers-file", headers, "--body-file", body},
		{"signature", "verify", "--secret", secret, "--headers-file", "-", "--body-file", "-"},
		{"signature", "verify", "--secret", secret, "--headers-file", headers, "--body-file", body, "extra"},
	} {
		cli.Must(t, exitcode.Usage, args...)
	}
	r := cli.Must(t, exitcode.Failure, "signature", "verify", "--secret", secret, "--headers-file", filepath.Join(t.TempDir(), "absent"), "--body-file", body)
	if !strings.Contains(r.Stderr, "no such file") {
		t.Errorf("stderr %q does not say the file is missing", r.Stderr)
	}
}
