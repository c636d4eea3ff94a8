// Package trigger is `pbxhooks trigger SCENARIO`: send a realistic call
// sequence (pkg/scenario, the same sequences as the API's simulate route)
// through ingest, as a PBX would, so the account's hooks fire for real.
package trigger

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/scenario"
)

// Result is what trigger prints (--output json): the test call's ids and
// what each step makes hooks receive, in order.
type Result struct {
	Scenario  string     `json:"scenario"`
	CallID    string     `json:"call_id"`
	ThreadID  string     `json:"thread_id"`
	Direction string     `json:"direction"`
	Callbacks []Callback `json:"callbacks"`
}

// Callback is one step's callback: a call step's Kazoo lifecycle and Spoke
// type and status, or a media step's type.
type Callback struct {
	Kind      string `json:"kind"`
	Lifecycle string `json:"lifecycle,omitempty"`
	CallType  string `json:"call_type,omitempty"`
	Status    string `json:"status,omitempty"`
	MediaType string `json:"media_type,omitempty"`
}

// NewCmdTrigger builds `pbxhooks trigger`.
func NewCmdTrigger(f *factory.Factory) *cobra.Command {
	var opts scenario.Options
	cmd := &cobra.Command{
		Use:   "trigger SCENARIO",
		Short: "Send a realistic test call through ingest: " + strings.Join(scenario.Names, ", "),
		Long: `Send a built-in call sequence to ingest for the account, step by step as a
PBX would (call events, then any voicemail or recording upload), so every
matching hook of the account receives its callbacks. The call is marked as
a test: its call id ends in @` + scenario.TestCallDomain + `, its thread id starts
with "test-", and call events carry custom_channel_vars.pbxhooks_test.
The token must be an admin token or an account token with scope pbx.

Scenarios and the callbacks they produce (Kazoo lifecycle / Spoke status;
for --direction outbound the type is outgoing_call and an unanswered call
is no_answer instead of missed):
  missed-call     channel_create ringing; channel_destroy missed
  answered-call   channel_create ringing; channel_answer answered; channel_destroy ended
  busy            channel_create ringing; channel_destroy busy
  no-answer       channel_create ringing; channel_destroy no_answer
  voicemail       channel_create ringing; channel_destroy missed; media voicemail (a 1 s WAV)
  call-recording  channel_create ringing; channel_answer answered; channel_destroy ended;
                  media call_recording (a 2 s WAV)

On a refused step the steps before it are stored; sending again is safe.`,
		Example: `  pbxhooks trigger missed-call
  pbxhooks trigger voicemail --from +15551230000 --to 5010
  pbxhooks trigger busy --direction outbound --output json`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: scenario.Names,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.AccountSettings()
			if err != nil {
				return err
			}
			seq, err := scenario.Build(args[0], opts)
			if err != nil {
				var invalid *scenario.InvalidError
				if errors.As(err, &invalid) {
					return exitcode.Usagef("%s: %s", flagName(invalid.Field), invalid.Message)
				}
				return err
			}
			sender := scenario.Ingest{BaseURL: s.IngestURL, Token: s.Token, Client: f.HTTPClient}
			if err := sender.Send(cmd.Context(), s.Account, seq); err != nil {
				return sendError(s.IngestURL, err)
			}
			result := newResult(seq)
			return f.Printer().Render(result, func(w io.Writer) error { return writeResult(w, result) })
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.From, "from", "", "caller number or SIP URI (default "+scenario.DefaultFrom+")")
	flags.StringVar(&opts.To, "to", "", "callee number or SIP URI (default "+scenario.DefaultTo+")")
	flags.StringVar(&opts.Direction, "direction", event.DirectionInbound, "inbound or outbound")
	_ = cmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions(
		[]string{event.DirectionInbound, event.DirectionOutbound}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// flagName turns scenario's field name into what the user typed.
func flagName(field string) string {
	if field == "scenario" {
		return "SCENARIO"
	}
	return "--" + field
}

// sendError gives ingest's refusals their exit codes.
func sendError(ingestURL string, err error) error {
	var refused *scenario.IngestError
	if !errors.As(err, &refused) {
		return exitcode.AsUsage(err) // the account id or ingest URL is malformed
	}
	if refused.Status == 0 {
		return &exitcode.Error{Code: exitcode.Unreachable, Message: fmt.Sprintf("ingest at %s unreachable: %s", ingestURL, refused.Message), Err: err}
	}
	coded := exitcode.FromResponse(fmt.Sprintf("send step %d", refused.Step+1), refused.Status,
		fmt.Appendf(nil, `{"message":%q}`, refused.Message))
	return coded
}

func newResult(seq scenario.Sequence) Result {
	r := Result{Scenario: seq.Scenario, CallID: seq.CallID, ThreadID: seq.ThreadID, Direction: seq.Direction}
	for _, cb := range seq.Callbacks() {
		r.Callbacks = append(r.Callbacks, Callback{
			Kind: cb.Kind, Lifecycle: cb.Lifecycle, CallType: cb.CallType, Status: cb.Status, MediaType: cb.MediaType,
		})
	}
	return r
}

func writeResult(w io.Writer, r Result) error {
	fmt.Fprintf(w, "Sent %s: %d steps stored by ingest.\n", r.Scenario, len(r.Callbacks))
	if err := output.WriteFields(w, []output.Field{
		{Name: "call id", Value: r.CallID}, {Name: "thread id", Value: r.ThreadID}, {Name: "direction", Value: r.Direction},
	}); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, len(r.Callbacks))
	for i, cb := range r.Callbacks {
		if cb.Kind == event.KindMedia {
			rows[i] = []string{fmt.Sprint(i + 1), cb.Kind, "", "", cb.MediaType}
			continue
		}
		rows[i] = []string{fmt.Sprint(i + 1), cb.Kind, cb.Lifecycle, cb.CallType, cb.Status}
	}
	return output.WriteTable(w, []string{"STEP", "KIND", "LIFECYCLE", "TYPE", "STATUS / MEDIA"}, rows)
}
