// Package webhooks is `pbxhooks webhooks`: list, read, create, edit,
// delete, enable and disable the account's webhooks through the API.
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/api"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
)

const jsonContentType = "application/json"

// NewCmdWebhooks builds `pbxhooks webhooks`.
func NewCmdWebhooks(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "webhooks <command>",
		Aliases: []string{"webhook", "hooks"},
		Short:   "List, create, edit, delete, enable and disable webhooks",
		Long: `Manage the account's webhooks (the API's /v1/accounts/{account}/webhooks).
With --output json each command prints the hook as the API answers it
(list: an array of them), so its fields are exactly the API's.`,
	}
	cmd.AddCommand(newCmdList(f), newCmdGet(f), newCmdCreate(f), newCmdEdit(f), newCmdDelete(f),
		newCmdEnabled(f, true), newCmdEnabled(f, false))
	return cmd
}

func newCmdList(f *factory.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the account's webhooks",
		Example: "  pbxhooks webhooks list\n  pbxhooks webhooks list --output json | jq -r '.[].id'",
		Long: `List the account's webhooks. An account comes into being with its first
webhook: before that the API answers 404 "account not found" (exit 4).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := api.New(f)
			if err != nil {
				return err
			}
			hooks, err := listHooks(cmd.Context(), client)
			if err != nil {
				return err
			}
			return f.Printer().Render(hooks, func(w io.Writer) error { return writeHookTable(w, hooks) })
		},
	}
}

func listHooks(ctx context.Context, client *api.Client) ([]apiclient.Hook, error) {
	const what = "list webhooks"
	resp, err := client.ListHooksWithResponse(ctx, client.Account())
	if err != nil {
		return nil, client.CallFailed(what, err)
	}
	if err := api.Refused(what, resp.HTTPResponse, resp.Body); err != nil {
		return nil, err
	}
	if resp.JSON200 == nil {
		return nil, api.Unexpected(what, resp.HTTPResponse)
	}
	return resp.JSON200.Data, nil
}

func newCmdGet(f *factory.Factory) *cobra.Command {
	return &cobra.Command{
		Use:               "get WEBHOOK_ID",
		Short:             "Show one webhook",
		Long:              "Show one webhook's fields (the signing secret is shown only by create).",
		Example:           "  pbxhooks webhooks get 0123456789abcdef0123456789abcdef --output json",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeHookIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.New(f)
			if err != nil {
				return err
			}
			what := "get webhook " + args[0]
			resp, err := client.GetHookWithResponse(cmd.Context(), client.Account(), args[0])
			if err != nil {
				return client.CallFailed(what, err)
			}
			return printHook(f, what, resp.HTTPResponse, resp.Body, resp.JSON200, "")
		},
	}
}

func newCmdCreate(f *factory.Factory) *cobra.Command {
	var doc documentFlags
	cmd := &cobra.Command{
		Use:   "create --name NAME --uri URL --hook TYPE [filters]",
		Short: "Create a webhook; prints it with its signing secret (shown only now)",
		Long: `Create a webhook from flags, or from a JSON document (--file) that flags
override. The fields are the API's: hook is channel_create, channel_answer,
channel_bridge, channel_destroy or all (Kazoo payloads), call (Spoke call
payloads, filtered by --call-type and --status) or media (Spoke media
payloads, filtered by --media-type). The API checks the document and names
every broken field (exit 6).

The answer includes the signing secret (whsec_...), which the API shows only
on create and rotation: keep it to verify callbacks (pbxhooks signature verify).`,
		Example: `  pbxhooks webhooks create --name "Missed calls" --hook call --call-type incoming_call --status missed --uri https://crm.example.com/missed --format json
  pbxhooks webhooks create --name "New calls" --hook channel_create --uri https://crm.example.com/new --custom-data crm_account=42
  pbxhooks webhooks create -f hook.json --retries 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := api.New(f)
			if err != nil {
				return err
			}
			body, err := doc.body(f, cmd.Flags())
			if err != nil {
				return err
			}
			const what = "create webhook"
			resp, err := client.CreateHookWithBodyWithResponse(cmd.Context(), client.Account(), jsonContentType, bytes.NewReader(body))
			if err != nil {
				return client.CallFailed(what, err)
			}
			return printHook(f, what, resp.HTTPResponse, resp.Body, resp.JSON201, "Created webhook")
		},
	}
	doc.register(cmd)
	return cmd
}

func newCmdEdit(f *factory.Factory) *cobra.Command {
	var doc documentFlags
	var revision int
	cmd := &cobra.Command{
		Use:   "edit WEBHOOK_ID [fields]",
		Short: "Change some fields of a webhook (the others keep their values)",
		Long: `Change the fields given as flags (or in --file) and keep the others: the
API's PATCH, a merge. A list flag replaces the whole list; an empty one
(--status "") means any. With --revision the edit applies only if the hook
is still at that revision (otherwise exit 6, HTTP 409).`,
		Example: `  pbxhooks webhooks edit 0123456789abcdef0123456789abcdef --uri https://crm.example.com/v2/missed
  pbxhooks webhooks edit 0123456789abcdef0123456789abcdef --status missed,no_answer --revision 3`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeHookIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.New(f)
			if err != nil {
				return err
			}
			body, err := doc.body(f, cmd.Flags())
			if err != nil {
				return err
			}
			return patchHook(cmd.Context(), f, client, args[0], revision, body, "edit webhook "+args[0], "Updated webhook")
		},
	}
	doc.register(cmd)
	cmd.Flags().IntVar(&revision, "revision", 0, "apply only if the hook is at this revision (optimistic locking)")
	return cmd
}

func newCmdEnabled(f *factory.Factory, enable bool) *cobra.Command {
	use, short, done := "disable", "Stop a webhook from firing (it keeps its settings)", "Disabled webhook"
	long := "Set enabled to false: the hook keeps its settings and can be enabled again."
	body := `{"data":{"enabled":false}}`
	if enable {
		use, short, done = "enable", "Make a webhook fire again (also after an automatic disable)", "Enabled webhook"
		long = `Set enabled to true. This also re-enables a hook the deliverer disabled
after repeated failures or a 410 Gone.`
		body = `{"data":{"enabled":true}}`
	}
	return &cobra.Command{
		Use:               use + " WEBHOOK_ID",
		Short:             short,
		Long:              long,
		Example:           "  pbxhooks webhooks " + use + " 0123456789abcdef0123456789abcdef",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeHookIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.New(f)
			if err != nil {
				return err
			}
			return patchHook(cmd.Context(), f, client, args[0], 0, []byte(body), use+" webhook "+args[0], done)
		},
	}
}

func patchHook(ctx context.Context, f *factory.Factory, client *api.Client, id string, revision int, body []byte, what, done string) error {
	var params apiclient.PatchHookParams
	if revision > 0 {
		ifMatch := strconv.Itoa(revision)
		params.IfMatch = &ifMatch
	}
	resp, err := client.PatchHookWithBodyWithResponse(ctx, client.Account(), id, &params, jsonContentType, bytes.NewReader(body))
	if err != nil {
		return client.CallFailed(what, err)
	}
	return printHook(f, what, resp.HTTPResponse, resp.Body, resp.JSON200, done)
}

func newCmdDelete(f *factory.Factory) *cobra.Command {
	return &cobra.Command{
		Use:     "delete WEBHOOK_ID",
		Aliases: []string{"rm"},
		Short:   "Delete a webhook (its attempts stay readable)",
		Long: `Delete a webhook at once: no new deliveries are made for it. Prints the
deleted hook as the API answers it.`,
		Example:           "  pbxhooks webhooks delete 0123456789abcdef0123456789abcdef",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeHookIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := api.New(f)
			if err != nil {
				return err
			}
			what := "delete webhook " + args[0]
			resp, err := client.DeleteHookWithBodyWithResponse(cmd.Context(), client.Account(), args[0], nil, jsonContentType, strings.NewReader(""))
			if err != nil {
				return client.CallFailed(what, err)
			}
			return printHook(f, what, resp.HTTPResponse, resp.Body, resp.JSON200, "Deleted webhook")
		},
	}
}

// printHook checks a single-hook answer and prints the hook: JSON as the
// API's data, or done and the hook's fields.
func printHook(f *factory.Factory, what string, resp *http.Response, body []byte, answer *apiclient.HookResponse, done string) error {
	if err := api.Refused(what, resp, body); err != nil {
		return err
	}
	if answer == nil {
		return api.Unexpected(what, resp)
	}
	hook := answer.Data
	return f.Printer().Render(hook, func(w io.Writer) error {
		if done != "" {
			fmt.Fprintf(w, "%s %s.\n", done, hook.Id)
		}
		return writeHookFields(w, hook)
	})
}

func writeHookTable(w io.Writer, hooks []apiclient.Hook) error {
	rows := make([][]string, len(hooks))
	for i, h := range hooks {
		rows[i] = []string{h.Id, h.Name, string(h.Hook), filters(h), enabledText(h), h.Uri}
	}
	return output.WriteTable(w, []string{"ID", "NAME", "HOOK", "FILTERS", "ENABLED", "URI"}, rows)
}

func writeHookFields(w io.Writer, h apiclient.Hook) error {
	fields := []output.Field{
		{Name: "id", Value: h.Id},
		{Name: "name", Value: h.Name},
		{Name: "hook", Value: string(h.Hook)},
		{Name: "uri", Value: h.Uri},
		{Name: "http_verb", Value: string(h.HttpVerb)},
		{Name: "format", Value: string(h.Format)},
		{Name: "retries", Value: strconv.Itoa(h.Retries)},
		{Name: "filters", Value: filters(h)},
		{Name: "enabled", Value: enabledText(h)},
		{Name: "include_internal_legs", Value: strconv.FormatBool(h.IncludeInternalLegs)},
		{Name: "revision", Value: strconv.Itoa(h.Revision)},
		{Name: "created", Value: h.Created.Format(time.RFC3339)},
		{Name: "modified", Value: h.Modified.Format(time.RFC3339)},
	}
	if len(h.CustomData) > 0 {
		custom, _ := json.Marshal(h.CustomData)
		fields = append(fields, output.Field{Name: "custom_data", Value: string(custom)})
	}
	if h.Secret != nil {
		fields = append(fields, output.Field{Name: "secret", Value: *h.Secret + "  (shown only now: keep it)"})
	}
	if h.PreviousSecretExpiresAt != nil {
		fields = append(fields, output.Field{Name: "previous_secret_expires_at", Value: h.PreviousSecretExpiresAt.Format(time.RFC3339)})
	}
	return output.WriteFields(w, fields)
}

// filters summarises a Spoke hook's filters ("incoming_call; missed,busy").
func filters(h apiclient.Hook) string {
	var parts []string
	add := func(label string, values []string) {
		if len(values) > 0 {
			parts = append(parts, label+"="+strings.Join(values, ","))
		}
	}
	add("call_types", stringsOf(h.CallTypes))
	add("call_statuses", stringsOf(h.CallStatuses))
	add("media_types", stringsOf(h.MediaTypes))
	return strings.Join(parts, " ")
}

func stringsOf[S ~string](values []S) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

func enabledText(h apiclient.Hook) string {
	if h.Enabled {
		return "yes"
	}
	if h.DisableReason != "" {
		return "no (" + h.DisableReason + ")"
	}
	return "no"
}

// completeHookIDs offers the account's hook ids, with their names, to
// the shell; it stays silent when the API cannot be asked.
func completeHookIDs(f *factory.Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		client, err := api.New(f)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		hooks, err := listHooks(cmd.Context(), client)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		out := make([]cobra.Completion, len(hooks))
		for i, h := range hooks {
			out[i] = cobra.CompletionWithDesc(h.Id, h.Name)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
