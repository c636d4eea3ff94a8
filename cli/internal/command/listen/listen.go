// Package listen is `pbxhooks listen`: receive the account's callbacks on a
// local URL, with no public endpoint, through one outbound connection to
// the API (pkg/relay).
package listen

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/pkg/relay"
)

// options are the command's flags.
type options struct {
	forwardTo    string
	hook         string
	callTypes    []string
	callStatuses []string
	mediaTypes   []string
	format       string
	printSecret  bool
}

// NewCmdListen builds `pbxhooks listen`.
func NewCmdListen(f *factory.Factory) *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "listen --forward-to URL",
		Short: "Forward the account's callbacks to a local URL (no public endpoint needed)",
		Long: `Open one outbound connection to the API, which creates a temporary relay hook
for the account with the filter given here (it shows in "webhooks list" with
"relay": true). Every callback of that hook is signed as usual (Standard
Webhooks headers webhook-id, webhook-timestamp, webhook-signature) and
forwarded by this command, method, headers and body unchanged, to
--forward-to, which may be on localhost. What the local endpoint answers is
recorded as the attempt, so a failure (a 5xx, a timeout, this command gone)
is retried as for any hook.

One line is printed per callback: time, event, call, call status, the local
endpoint's status (ERR when it did not answer) and how long it took. With
--output json each line is one JSON object: first {"type":"ready",...} with
the relay hook, then {"type":"delivery",...} per callback.

--print-secret prints the relay hook's signing secret, which verifies every
forwarded request (pbxhooks signature verify, or any Standard Webhooks
library). Ctrl-C closes the connection and the API removes the relay hook.`,
		Example: `  pbxhooks listen --forward-to http://localhost:3000/hooks
  pbxhooks listen --forward-to http://localhost:3000/hooks --hook call --call-type incoming_call --status missed
  pbxhooks listen --forward-to http://127.0.0.1:8000/cb --hook channel_create --print-secret --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, f, o)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&o.forwardTo, "forward-to", "", "local URL every callback is forwarded to (required)")
	flags.StringVar(&o.hook, "hook", relay.DefaultHook, "hook type: channel_create, channel_answer, channel_bridge, channel_destroy, all, call or media")
	flags.StringSliceVar(&o.callTypes, "call-type", nil, "with --hook call: incoming_call, outgoing_call (repeatable)")
	flags.StringSliceVar(&o.callStatuses, "status", nil, "with --hook call: call statuses such as missed, answered, busy (repeatable)")
	flags.StringSliceVar(&o.mediaTypes, "media-type", nil, "with --hook media: voicemail, call_recording (repeatable)")
	flags.StringVar(&o.format, "format", relay.DefaultFormat, "payload format: json or form-data")
	flags.BoolVar(&o.printSecret, "print-secret", false, "print the relay hook's signing secret")
	_ = cmd.MarkFlagRequired("forward-to")
	_ = cmd.RegisterFlagCompletionFunc("hook", cobra.FixedCompletions(
		[]string{"all", "call", "media", "channel_create", "channel_answer", "channel_bridge", "channel_destroy"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"json", "form-data"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func run(cmd *cobra.Command, f *factory.Factory, o options) error {
	s, err := f.AccountSettings()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	l, err := relay.Connect(ctx, relay.Options{
		APIURL: s.APIURL, Token: s.Token, AccountID: s.Account, ForwardTo: o.forwardTo,
		Hook: o.hook, CallTypes: o.callTypes, CallStatuses: o.callStatuses, MediaTypes: o.mediaTypes, Format: o.format,
		HTTPClient: f.HTTPClient,
	})
	var refused *relay.RefusedError
	switch {
	case errors.As(err, &refused):
		return exitcode.FromResponse("open the relay", refused.Status, []byte(refused.Body))
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil && strings.Contains(err.Error(), "forward-to"):
		return exitcode.AsUsage(err)
	case err != nil:
		return exitcode.Transport("API", s.APIURL, err)
	}
	p := &printer{w: f.IO.Out, format: f.Output}
	if err := p.ready(l.Hook(), o.forwardTo, o.printSecret); err != nil {
		l.Close()
		return err
	}
	if f.Output != output.JSON {
		fmt.Fprintln(f.IO.ErrOut, "Forwarding to "+o.forwardTo+"; Ctrl-C to stop.")
	}
	if err := l.Serve(ctx, p.delivery); err != nil {
		return exitcode.Failuref("%v", err)
	}
	if f.Output != output.JSON {
		fmt.Fprintln(f.IO.ErrOut, "Stopped; the relay hook "+l.Hook().ID+" is removed.")
	}
	return nil
}

// printer writes the ready line and one line per delivery; deliveries are
// reported from several goroutines.
type printer struct {
	w      io.Writer
	format output.Format
	mu     sync.Mutex
}

// readyLine is the first JSON line.
type readyLine struct {
	Type         string   `json:"type"`
	HookID       string   `json:"hook_id"`
	AccountID    string   `json:"account_id"`
	Hook         string   `json:"hook"`
	CallTypes    []string `json:"call_types"`
	CallStatuses []string `json:"call_statuses"`
	MediaTypes   []string `json:"media_types"`
	Format       string   `json:"format"`
	ForwardTo    string   `json:"forward_to"`
	Secret       string   `json:"secret,omitempty"`
}

// deliveryLine is the JSON line of one forwarded callback.
type deliveryLine struct {
	Type       string `json:"type"`
	Time       string `json:"time"`
	WebhookID  string `json:"webhook_id"`
	Event      string `json:"event"`
	Call       string `json:"call"`
	Status     string `json:"status"`
	Code       int    `json:"code"`
	Error      string `json:"error,omitempty"`
	DurationMs int64  `json:"duration_ms"`
}

func (p *printer) ready(h relay.Hook, forwardTo string, withSecret bool) error {
	line := readyLine{Type: "ready", HookID: h.ID, AccountID: h.AccountID, Hook: h.Hook, CallTypes: h.CallTypes,
		CallStatuses: h.CallStatuses, MediaTypes: h.MediaTypes, Format: h.Format, ForwardTo: forwardTo}
	if withSecret {
		line.Secret = h.Secret
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.format == output.JSON {
		return writeLine(p.w, line)
	}
	filter := h.Hook
	for _, list := range [][]string{h.CallTypes, h.CallStatuses, h.MediaTypes} {
		if len(list) > 0 {
			filter += " " + strings.Join(list, ",")
		}
	}
	fmt.Fprintf(p.w, "Relay hook %s ready (%s, %s).\n", h.ID, filter, h.Format)
	if withSecret {
		fmt.Fprintf(p.w, "Signing secret: %s\n", h.Secret)
	}
	return nil
}

func (p *printer) delivery(d relay.Delivery) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.format == output.JSON {
		_ = writeLine(p.w, deliveryLine{
			Type: "delivery", Time: d.Time.UTC().Format(time.RFC3339Nano), WebhookID: d.WebhookID,
			Event: d.Event, Call: d.Call, Status: d.Status, Code: d.Code, Error: d.Error, DurationMs: d.Duration.Milliseconds(),
		})
		return
	}
	code := fmt.Sprint(d.Code)
	if d.Code == 0 {
		code = "ERR " + d.Error
	}
	fmt.Fprintf(p.w, "%s  %-16s %-24s %-14s %s  %s\n", d.Time.Format("15:04:05"), dash(d.Event), dash(d.Call), dash(d.Status),
		code, d.Duration.Round(time.Millisecond))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeLine writes v as one line of JSON, without HTML escaping (URLs
// keep their &), as output.WriteJSON does indented.
func writeLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
