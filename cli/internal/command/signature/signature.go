// Package signature is `pbxhooks signature verify`: check a received
// callback's Standard Webhooks signature with the hook's secret, using the
// reference library (github.com/standard-webhooks/standard-webhooks), the
// same check a receiver makes.
package signature

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/inputfile"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
)

// Bounds of the files read: headers are at most a few KiB on the wire, a
// callback body at most what a receiver would accept.
const (
	maxHeaderBytes = 1 << 20
	maxBodyBytes   = 32 << 20
)

// Result is what a successful verification prints (--output json).
type Result struct {
	Valid     bool      `json:"valid"`
	WebhookID string    `json:"webhook_id"`
	Timestamp time.Time `json:"timestamp"`
	// TimestampChecked is false with --ignore-timestamp.
	TimestampChecked bool `json:"timestamp_checked"`
}

// NewCmdSignature builds `pbxhooks signature`.
func NewCmdSignature(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signature <command>",
		Short: "Check Standard Webhooks signatures of received callbacks",
	}
	cmd.AddCommand(newCmdVerify(f))
	return cmd
}

type verifyOptions struct {
	secret, headersFile, bodyFile string
	ignoreTimestamp               bool
}

func newCmdVerify(f *factory.Factory) *cobra.Command {
	var opts verifyOptions
	cmd := &cobra.Command{
		Use:   "verify --secret whsec_... --headers-file FILE --body-file FILE",
		Short: "Verify a callback's webhook-signature with the hook's secret",
		Long: `Verify that a callback was signed with the hook's secret, exactly as a
receiver using the Standard Webhooks library does: HMAC-SHA256 over
"webhook-id.webhook-timestamp.body", any of the space-separated v1
signatures matching (two during a secret rotation).

--headers-file holds the request headers, either as "Name: value" lines
(curl -D, a proxy log; a first request or status line is skipped) or as a
JSON object (request.headers of "pbxhooks attempts list --output json").
--body-file holds the exact body bytes (empty for http_verb get hooks).
Either file may be "-" for standard input.

The timestamp must be within 5 minutes of now, as receivers require;
--ignore-timestamp checks only the signature, for recorded requests.
A signature that does not match exits 1.`,
		Example: `  pbxhooks signature verify --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw --headers-file headers.txt --body-file body.json
  pbxhooks signature verify --secret "$SECRET" --headers-file h.json --body-file - --ignore-timestamp < body.json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runVerify(f, opts) },
	}
	cmd.Flags().StringVar(&opts.secret, "secret", "", "the hook's signing secret (whsec_...)")
	cmd.Flags().StringVar(&opts.headersFile, "headers-file", "", "file with the request headers, or - for stdin")
	cmd.Flags().StringVar(&opts.bodyFile, "body-file", "", "file with the request body, or - for stdin")
	cmd.Flags().BoolVar(&opts.ignoreTimestamp, "ignore-timestamp", false, "do not require the timestamp to be within 5 minutes")
	for _, name := range []string{"secret", "headers-file", "body-file"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runVerify(f *factory.Factory, opts verifyOptions) error {
	if opts.headersFile == "-" && opts.bodyFile == "-" {
		return exitcode.Usagef("only one of --headers-file and --body-file can be standard input")
	}
	wh, err := standardwebhooks.NewWebhook(opts.secret)
	if err != nil {
		return exitcode.Usagef("--secret: not a whsec_ secret (base64 after the prefix)")
	}
	rawHeaders, err := inputfile.Read(f.IO.In, opts.headersFile, maxHeaderBytes)
	if err != nil {
		return err
	}
	headers, err := ParseHeaders(rawHeaders)
	if err != nil {
		return exitcode.Failuref("%s: %w", opts.headersFile, err)
	}
	body, err := inputfile.Read(f.IO.In, opts.bodyFile, maxBodyBytes)
	if err != nil {
		return err
	}
	verify := wh.Verify
	if opts.ignoreTimestamp {
		verify = wh.VerifyIgnoringTimestamp
	}
	if err := verify(body, headers); err != nil {
		return exitcode.Failuref("signature not valid: %s", reason(err))
	}
	seconds, _ := strconv.ParseInt(headers.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64)
	result := Result{
		Valid: true, WebhookID: headers.Get(standardwebhooks.HeaderWebhookID),
		Timestamp: time.Unix(seconds, 0).UTC(), TimestampChecked: !opts.ignoreTimestamp,
	}
	return f.Printer().Render(result, func(w io.Writer) error {
		fmt.Fprintln(w, "Signature valid.")
		return output.WriteFields(w, []output.Field{
			{Name: "webhook-id", Value: result.WebhookID},
			{Name: "signed at", Value: result.Timestamp.Format(time.RFC3339)},
		})
	})
}

// reason says in words which check failed.
func reason(err error) string {
	switch {
	case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
		return "webhook-id, webhook-timestamp and webhook-signature headers are required"
	case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
		return "webhook-timestamp is not a Unix time"
	case errors.Is(err, standardwebhooks.ErrNoMatchingSignature):
		return "no signature matches this secret and body"
	case errors.Is(err, standardwebhooks.ErrMessageTooOld):
		return "timestamp older than 5 minutes (--ignore-timestamp for recorded requests)"
	case errors.Is(err, standardwebhooks.ErrMessageTooNew):
		return "timestamp more than 5 minutes in the future"
	}
	return err.Error()
}
