// Package redeliver is `pbxhooks resend` and `pbxhooks recover`: send
// deliveries again through the API (the matcher renders the stored event
// again for the hook as it is now; the deliverer makes one more attempt
// with the same webhook-id).
package redeliver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/api"
	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/cli/internal/timeflag"
	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
)

// NewCmdResend builds `pbxhooks resend`.
func NewCmdResend(f *factory.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "resend DELIVERY_ID",
		Short: "Send one delivery again (same webhook-id, one more attempt)",
		Long: `Ask the API to send a delivery again: its payload is rendered again from
the stored event for the hook as it is now, with the same webhook-id (the
delivery id, "<event id>:<hook id>", as attempts show it), as one more
attempt numbered after the earlier ones and not retried. The command
returns once the resend is queued; the attempt then appears in
"pbxhooks attempts list --hook HOOK_ID".

Exit 4 when the account has no such delivery, or its event (kept a week)
or its hook is gone.`,
		Example: `  pbxhooks resend test-0f3c9a1b2c3d4e5f60718293-2:0123456789abcdef0123456789abcdef
  pbxhooks attempts list --result failure --output json | jq -r '.[].delivery_id' | xargs -n1 pbxhooks resend`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.New(f)
			if err != nil {
				return err
			}
			what := "resend delivery " + args[0]
			resp, err := client.ResendDeliveryWithResponse(cmd.Context(), client.Account(), args[0])
			if err != nil {
				return client.CallFailed(what, err)
			}
			if err := api.Refused(what, resp.HTTPResponse, resp.Body); err != nil {
				return err
			}
			if resp.JSON202 == nil {
				return api.Unexpected(what, resp.HTTPResponse)
			}
			resent := resp.JSON202.Data
			return f.Printer().Render(resent, func(w io.Writer) error {
				fmt.Fprintln(w, "Resend queued; its attempt will appear under the hook's attempts.")
				return output.WriteFields(w, []output.Field{
					{Name: "delivery", Value: resent.DeliveryId}, {Name: "hook", Value: resent.HookId},
					{Name: "event", Value: resent.EventId}, {Name: "resend id", Value: resent.ResendId},
				})
			})
		},
	}
}

// NewCmdRecover builds `pbxhooks recover`.
func NewCmdRecover(f *factory.Factory) *cobra.Command {
	var hook, since string
	var dryRun bool
	var limit int
	cmd := &cobra.Command{
		Use:   "recover --hook ID --since TIME [--dry-run]",
		Short: "Resend a hook's failed deliveries since a time",
		Long: `Find the hook's deliveries attempted at or after --since of which no attempt
since then succeeded (oldest first, at most --limit), and resend each as
"pbxhooks resend" does. With --dry-run they are only listed.

When more remain than --limit, the output says so and gives the --since
to continue from. When some could not be resent, each says why and the
exit code is 1; resending them again is safe (receivers dedupe on
webhook-id).`,
		Example: `  pbxhooks recover --hook 0123456789abcdef0123456789abcdef --since 2h --dry-run
  pbxhooks recover --hook 0123456789abcdef0123456789abcdef --since 2026-11-30T08:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := timeflag.Parse(since, time.Now())
			if err != nil {
				return exitcode.Usagef("--since: %v", err)
			}
			client, err := api.New(f)
			if err != nil {
				return err
			}
			body, err := json.Marshal(apiclient.RecoverRequest{Data: apiclient.RecoverOptions{Since: from.UTC(), DryRun: &dryRun, Limit: &limit}})
			if err != nil {
				return err
			}
			what := "recover webhook " + hook
			resp, err := client.RecoverHookWithBodyWithResponse(cmd.Context(), client.Account(), hook, "application/json", bytes.NewReader(body))
			if err != nil {
				return client.CallFailed(what, err)
			}
			if err := api.Refused(what, resp.HTTPResponse, resp.Body); err != nil {
				return err
			}
			answer := resp.JSON202
			if answer == nil {
				answer = resp.JSON200
			}
			if answer == nil {
				return api.Unexpected(what, resp.HTTPResponse)
			}
			recovered := answer.Data
			if err := f.Printer().Render(recovered, func(w io.Writer) error { return writeRecovered(w, recovered) }); err != nil {
				return err
			}
			if failed := notResent(recovered); failed > 0 {
				return exitcode.Failuref("%d of %d deliveries could not be resent (see each one's error); running recover again is safe", failed, len(recovered.Deliveries))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hook, "hook", "", "the webhook's id")
	cmd.Flags().StringVar(&since, "since", "", "deliveries attempted at or after this time: "+timeflag.Help)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only list the failed deliveries")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many deliveries (the API allows 1 to 100)")
	_ = cmd.MarkFlagRequired("hook")
	_ = cmd.MarkFlagRequired("since")
	return cmd
}

func notResent(r apiclient.Recovered) int {
	if r.DryRun {
		return 0
	}
	n := 0
	for _, d := range r.Deliveries {
		if !d.Resent {
			n++
		}
	}
	return n
}

func writeRecovered(w io.Writer, r apiclient.Recovered) error {
	verb := "resent"
	if r.DryRun {
		verb = "found (dry run: nothing resent)"
	}
	fmt.Fprintf(w, "%d failed deliveries of hook %s since %s %s.\n", len(r.Deliveries), r.HookId, r.Since.Format(time.RFC3339), verb)
	if len(r.Deliveries) > 0 {
		rows := make([][]string, len(r.Deliveries))
		for i, d := range r.Deliveries {
			state := "listed"
			switch {
			case d.Resent:
				state = "resent"
			case d.Error != nil && *d.Error != "":
				state = "not resent: " + *d.Error
			}
			rows[i] = []string{d.DeliveryId, strconv.Itoa(d.LastAttempt), d.FirstAttemptAt.UTC().Format(time.RFC3339),
				d.LastAttemptAt.UTC().Format(time.RFC3339), state}
		}
		if err := output.WriteTable(w, []string{"DELIVERY", "ATTEMPTS", "FIRST ATTEMPT", "LAST ATTEMPT", "STATE"}, rows); err != nil {
			return err
		}
	}
	if r.Truncated && r.NextSince != nil {
		fmt.Fprintf(w, "More remain: run again with --since %s\n", r.NextSince.UTC().Format(time.RFC3339Nano))
	}
	return nil
}
