// Package events is `pbxhooks events`: send PBX events to ingest as a PBX
// would.
package events

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/ingest"
	"github.com/pbxhooks/pbxhooks/cli/internal/inputfile"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
)

// maxEventFileBytes bounds the file read; ingest applies its own, smaller
// per-event and per-batch limits and says which was exceeded.
const maxEventFileBytes = 16 << 20

// NewCmdEvents builds `pbxhooks events`.
func NewCmdEvents(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events <command>",
		Short: "Send PBX events to ingest",
	}
	cmd.AddCommand(newCmdSend(f))
	return cmd
}

func newCmdSend(f *factory.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "send FILE|-",
		Short: "Send native JSON events from a file (or - for stdin) to ingest",
		Long: `Send one native event (a JSON object) or a batch (a JSON array) to ingest's
POST /v1/accounts/{account}/events, as a PBX does, with the token as the
bearer credential (an admin token, or an account token with scope pbx).

Ingest answers once every valid event is stored; each stored event's id is
printed. Events are deduplicated by ingest, so sending a file twice is safe.
When some events of a batch are invalid, the rest are stored, the invalid
ones are listed, and the exit code is 6.

Event fields: "event" (channel_create, channel_answer, channel_bridge,
channel_destroy), "call_id", "direction" (inbound/outbound), "from", "to",
and Kazoo's optional fields (hangup_cause, caller_id_name, ...).`,
		Example: `  pbxhooks events send missed.json
  echo '{"event":"channel_create","call_id":"c1","direction":"inbound","from":"+15551230000","to":"5010"}' | pbxhooks events send -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.AccountSettings()
			if err != nil {
				return err
			}
			body, err := inputfile.Read(f.IO.In, args[0], maxEventFileBytes)
			if err != nil {
				return err
			}
			if !json.Valid(body) {
				return exitcode.Failuref("%s: not JSON", args[0])
			}
			client := &ingest.Client{HTTP: f.HTTPClient, BaseURL: s.IngestURL, Token: s.Token}
			accepted, err := client.SendEvents(cmd.Context(), s.Account, body)
			if err != nil {
				return err
			}
			if err := f.Printer().Render(accepted, func(w io.Writer) error { return writeAccepted(w, accepted) }); err != nil {
				return err
			}
			if len(accepted.Rejected) > 0 {
				return &exitcode.Error{Code: exitcode.Rejected, Message: fmt.Sprintf("%d events of the batch were rejected", len(accepted.Rejected))}
			}
			return nil
		},
	}
}

func writeAccepted(w io.Writer, a ingest.Accepted) error {
	fmt.Fprintln(w, a.String()+".")
	rows := make([][]string, 0, len(a.IDs)+len(a.Rejected))
	for _, id := range a.IDs {
		rows = append(rows, []string{"stored", id})
	}
	for _, r := range a.Rejected {
		rows = append(rows, []string{fmt.Sprintf("rejected [%d]", r.Index), r.Message})
	}
	if len(rows) == 0 {
		return nil
	}
	return output.WriteTable(w, []string{"RESULT", "EVENT ID / REASON"}, rows)
}
