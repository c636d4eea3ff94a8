// Package root is the pbxhooks command: global flags, the command tree,
// and the one place errors become an exit code and a message.
package root

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/command/attempts"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/events"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/listen"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/login"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/redeliver"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/signature"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/trigger"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/webhooks"
	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/cli/internal/settings"
)

const long = `pbxhooks manages PBX webhooks from a terminal or a CI job: the account's
webhooks and their callback attempts, PBX events sent as a PBX would,
realistic call scenarios, redelivery, and signature checks.

Settings, each from its flag, else its environment variable, else the
profile saved by "pbxhooks login", else its default:
  --api       PBXHOOKS_API_URL     API base URL (default ` + settings.DefaultAPIURL + `)
  --ingest    PBXHOOKS_INGEST_URL  ingest base URL, for "events send" and "trigger"
                                   (default ` + settings.DefaultIngestURL + `)
  --token     PBXHOOKS_TOKEN       API token (the same token is sent to ingest)
  --account   PBXHOOKS_ACCOUNT     account id
  --profile   PBXHOOKS_PROFILE     profile of the configuration file (default: the
                                   one "pbxhooks login" used last, else "default")
Profiles live in <user config dir>/pbxhooks/config.json (mode 0600).

Output: --output table (default, for people) or --output json (for scripts:
the API's field names, stable across releases; errors as JSON on stderr).

` + exitcode.Help

// NewCmdRoot builds the command tree on f.
func NewCmdRoot(f *factory.Factory) *cobra.Command {
	var outputFlag string
	cmd := &cobra.Command{
		Use:   "pbxhooks <command>",
		Short: "Manage PBX webhooks, send and trigger call events, verify signatures",
		Long:  long,
		Example: `  pbxhooks login --account demo --token pbxhooks-dev-admin-token
  pbxhooks webhooks create --name missed --hook call --call-type incoming_call --status missed --uri https://example.com/hooks
  pbxhooks trigger missed-call --from +15551230000 --to 5010
  pbxhooks attempts list --result failure --output json`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			format, err := output.ParseFormat(outputFlag)
			if err != nil {
				return exitcode.AsUsage(err)
			}
			f.Output = format
			return nil
		},
	}
	flags := cmd.PersistentFlags()
	flags.StringVar(&f.Flags.APIURL, "api", "", "API base URL (env "+settings.EnvAPIURL+", default "+settings.DefaultAPIURL+")")
	flags.StringVar(&f.Flags.IngestURL, "ingest", "", "ingest base URL (env "+settings.EnvIngestURL+", default "+settings.DefaultIngestURL+")")
	flags.StringVar(&f.Flags.Token, "token", "", "API token (env "+settings.EnvToken+")")
	flags.StringVar(&f.Flags.Account, "account", "", "account id (env "+settings.EnvAccount+")")
	flags.StringVar(&f.Flags.Profile, "profile", "", "configuration profile (env "+settings.EnvProfile+")")
	flags.StringVarP(&outputFlag, "output", "o", string(output.Table), "output format: table or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(output.Formats, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("profile", profileCompletion(f))

	cmd.AddCommand(
		login.NewCmdLogin(f),
		webhooks.NewCmdWebhooks(f),
		attempts.NewCmdAttempts(f),
		redeliver.NewCmdResend(f),
		redeliver.NewCmdRecover(f),
		events.NewCmdEvents(f),
		listen.NewCmdListen(f),
		signature.NewCmdSignature(f),
		trigger.NewCmdTrigger(f),
	)
	return cmd
}

// profileCompletion offers the configuration file's profile names.
func profileCompletion(f *factory.Factory) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		file, _, err := f.ConfigFile()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		names := make([]cobra.Completion, 0, len(file.Profiles))
		for name := range file.Profiles {
			names = append(names, name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// Run executes args on f's streams and returns the exit code. Errors are
// printed here only: as "Error: ..." lines, or with --output json as one
// JSON document on stderr (exitcode.JSON).
func Run(ctx context.Context, f *factory.Factory, args []string) int {
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	cmd.SetIn(f.IO.In)
	cmd.SetOut(f.IO.Out)
	cmd.SetErr(f.IO.ErrOut)
	// An error before a command's own code ran (unknown command or flag,
	// wrong argument count, a missing required flag) is a usage error.
	cmd.InitDefaultHelpCmd()
	cmd.InitDefaultCompletionCmd()
	reached := false
	markReached(cmd, &reached)
	executed, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return exitcode.OK
	}
	if !reached {
		var coded *exitcode.Error
		if !errors.As(err, &coded) {
			err = exitcode.AsUsage(err)
		}
	}
	code := exitcode.Of(err)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Ctrl-C: the user asked to stop; 130 is the shells' convention.
		return 130
	}
	if f.Output == output.JSON || jsonRequested(args) {
		_ = output.WriteJSON(f.IO.ErrOut, exitcode.ToJSON(err))
		return code
	}
	fmt.Fprintln(f.IO.ErrOut, "Error: "+err.Error())
	if code == exitcode.Usage && executed != nil {
		fmt.Fprintf(f.IO.ErrOut, "Run '%s --help' for usage.\n", executed.CommandPath())
	}
	return code
}

// jsonRequested finds --output json in args when flag parsing failed before
// f.Output was set, so even a usage error is JSON for a script.
func jsonRequested(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--output=json", a == "-o=json", a == "-ojson":
			return true
		case (a == "--output" || a == "-o") && i+1 < len(args) && strings.EqualFold(args[i+1], "json"):
			return true
		}
	}
	return false
}

// markReached wraps every command's RunE to note that flag parsing and
// argument validation passed.
func markReached(cmd *cobra.Command, reached *bool) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*reached = true
			return run(c, args)
		}
	}
	for _, sub := range cmd.Commands() {
		markReached(sub, reached)
	}
}
