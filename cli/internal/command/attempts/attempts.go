// Package attempts is `pbxhooks attempts`: read the account's callback
// attempts, or follow new ones as they happen.
package attempts

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/api"
	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/cli/internal/timeflag"
	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
)

// maxPageSize is the API's largest attempts page.
const maxPageSize = 100

// NewCmdAttempts builds `pbxhooks attempts`.
func NewCmdAttempts(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attempts <command>",
		Short: "Read callback attempts, or follow them live",
		Long: `Every HTTP request the deliverer makes to a webhook's URL is an attempt:
its request, the response (status, headers, body) or the client error, its
latency, and how many retries are left. --output json prints them with the
API's field names (request.headers is what "signature verify" reads).`,
	}
	cmd.AddCommand(newCmdList(f), newCmdTail(f))
	return cmd
}

// filter is what both subcommands select by.
type filter struct {
	hook, result string
	since, until string
}

func (q *filter) register(cmd *cobra.Command, withTime bool) {
	fl := cmd.Flags()
	fl.StringVar(&q.hook, "hook", "", "only this webhook's attempts (its id)")
	fl.StringVar(&q.result, "result", "", "only success or failure")
	_ = cmd.RegisterFlagCompletionFunc("result", cobra.FixedCompletions([]string{"success", "failure"}, cobra.ShellCompDirectiveNoFileComp))
	if withTime {
		fl.StringVar(&q.since, "since", "", "only attempts at or after this time: "+timeflag.Help)
		fl.StringVar(&q.until, "until", "", "only attempts before this time: "+timeflag.Help)
	}
}

// params are the API's query parameters for one page.
type params struct {
	result   *apiclient.Result
	from, to *time.Time
	pageSize int
	startKey *string
}

func (q *filter) params(now time.Time) (params, error) {
	var p params
	switch q.result {
	case "":
	case string(apiclient.AttemptResultSuccess), string(apiclient.AttemptResultFailure):
		r := apiclient.Result(q.result)
		p.result = &r
	default:
		return p, exitcode.Usagef("--result must be success or failure, not %q", q.result)
	}
	var err error
	if p.from, err = parseTime("--since", q.since, now); err != nil {
		return p, err
	}
	if p.to, err = parseTime("--until", q.until, now); err != nil {
		return p, err
	}
	return p, nil
}

func parseTime(flag, value string, now time.Time) (*time.Time, error) {
	if value == "" {
		return nil, nil
	}
	t, err := timeflag.Parse(value, now)
	if err != nil {
		return nil, exitcode.Usagef("%s: %v", flag, err)
	}
	return &t, nil
}

// page fetches one page, newest first, from the account's or one hook's
// attempts.
func page(ctx context.Context, client *api.Client, hook string, p params) (apiclient.AttemptPage, error) {
	size := p.pageSize
	what := "list attempts"
	if hook == "" {
		resp, err := client.ListAccountAttemptsWithResponse(ctx, client.Account(), &apiclient.ListAccountAttemptsParams{
			PageSize: &size, StartKey: p.startKey, From: p.from, To: p.to, Result: p.result,
		})
		if err != nil {
			return apiclient.AttemptPage{}, client.CallFailed(what, err)
		}
		return pageOf(what, resp.HTTPResponse, resp.Body, resp.JSON200)
	}
	what = "list attempts of webhook " + hook
	resp, err := client.ListHookAttemptsWithResponse(ctx, client.Account(), hook, &apiclient.ListHookAttemptsParams{
		PageSize: &size, StartKey: p.startKey, From: p.from, To: p.to, Result: p.result,
	})
	if err != nil {
		return apiclient.AttemptPage{}, client.CallFailed(what, err)
	}
	return pageOf(what, resp.HTTPResponse, resp.Body, resp.JSON200)
}

func pageOf(what string, resp *http.Response, body []byte, answer *apiclient.AttemptPageResponse) (apiclient.AttemptPage, error) {
	if err := api.Refused(what, resp, body); err != nil {
		return apiclient.AttemptPage{}, err
	}
	if answer == nil {
		return apiclient.AttemptPage{}, api.Unexpected(what, resp)
	}
	return *answer, nil
}

func newCmdList(f *factory.Factory) *cobra.Command {
	var q filter
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--hook ID] [--result success|failure] [--since TIME]",
		Short: "List attempts, newest first",
		Long: `List the account's attempts (or one webhook's, with --hook), newest first,
following the API's pages until --limit attempts are shown.`,
		Example: `  pbxhooks attempts list --result failure --since 1h
  pbxhooks attempts list --hook 0123456789abcdef0123456789abcdef --limit 5 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return exitcode.Usagef("--limit must be at least 1")
			}
			client, err := api.New(f)
			if err != nil {
				return err
			}
			p, err := q.params(time.Now())
			if err != nil {
				return err
			}
			var all []apiclient.Attempt
			for len(all) < limit {
				p.pageSize = min(limit-len(all), maxPageSize)
				pg, err := page(cmd.Context(), client, q.hook, p)
				if err != nil {
					return err
				}
				all = append(all, pg.Data...)
				if pg.NextStartKey == nil || *pg.NextStartKey == "" || len(pg.Data) == 0 {
					break
				}
				p.startKey = pg.NextStartKey
			}
			if all == nil {
				all = []apiclient.Attempt{}
			}
			return f.Printer().Render(all, func(w io.Writer) error { return writeTable(w, all) })
		},
	}
	q.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many attempts")
	return cmd
}

func writeTable(w io.Writer, attempts []apiclient.Attempt) error {
	rows := make([][]string, len(attempts))
	for i, a := range attempts {
		rows[i] = row(a)
	}
	return output.WriteTable(w, []string{"TIME", "HOOK", "DELIVERY", "ATTEMPT", "RESULT", "RESPONSE", "LATENCY"}, rows)
}

func row(a apiclient.Attempt) []string {
	return []string{
		a.Timestamp.UTC().Format(time.RFC3339), a.HookId, a.DeliveryId, strconv.Itoa(a.Attempt),
		string(a.Result), response(a), strconv.Itoa(a.LatencyMs) + "ms",
	}
}

// response is the answer's status, or in a few words why there was none
// (the whole client error is in the JSON output).
func response(a apiclient.Attempt) string {
	switch {
	case a.Response != nil:
		return strconv.Itoa(a.Response.Status)
	case a.Reason != "":
		return a.Reason
	case a.ClientError != nil:
		return strings.TrimSpace(*a.ClientError)
	}
	return ""
}
