package root_test

import (
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/clitest"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/login"
	"github.com/pbxhooks/pbxhooks/cli/internal/command/root"
	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/iostreams"
	"github.com/pbxhooks/pbxhooks/cli/internal/settings"
)

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	cli := clitest.New(t)
	for _, args := range [][]string{
		{"no-such-command"},
		{"events", "send"},
		{"events", "send", "a", "b"},
		{"--no-such-flag"},
		{"--output", "yaml", "events", "send", "x"},
		{"events", "send", "x.json", "--token", "t"},
		{"events", "send", "x.json", "--account", "a"},
	} {
		r := cli.Run(t.Context(), "", args...)
		if r.Code != exitcode.Usage || !strings.HasPrefix(r.Stderr, "Error: ") || r.Stdout != "" {
			t.Errorf("pbxhooks %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
	}
}

func TestErrorsAreJSONWithOutputJSON(t *testing.T) {
	t.Parallel()
	cli := clitest.New(t)
	for _, args := range [][]string{
		{"no-such-command", "-o", "json"},
		{"events", "send", "--output=json"},
	} {
		r := cli.Run(t.Context(), "", args...)
		var doc exitcode.JSON
		if err := json.Unmarshal([]byte(r.Stderr), &doc); err != nil {
			t.Fatalf("pbxhooks %s: stderr is not a JSON error: %v\n%s", strings.Join(args, " "), err, r.Stderr)
		}
		if r.Code != exitcode.Usage || doc.Error.Kind != "usage" || doc.Error.ExitCode != exitcode.Usage || doc.Error.Message == "" {
			t.Errorf("pbxhooks %s: exit %d, error %+v", strings.Join(args, " "), r.Code, doc.Error)
		}
	}
}

func TestHelpIsComplete(t *testing.T) {
	t.Parallel()
	r := clitest.New(t).Must(t, exitcode.OK, "--help")
	for _, want := range []string{
		"PBXHOOKS_API_URL", "PBXHOOKS_INGEST_URL", "PBXHOOKS_TOKEN", "PBXHOOKS_ACCOUNT", "PBXHOOKS_PROFILE",
		"Exit codes:", "5  API or ingest unreachable", "--output", "completion", "login", "events", "signature",
		"webhooks", "attempts", "trigger",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("pbxhooks --help lacks %q", want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	cli := clitest.New(t)
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		r := cli.Must(t, exitcode.OK, "completion", shell)
		if !strings.Contains(r.Stdout, "pbxhooks") {
			t.Errorf("completion %s does not mention pbxhooks", shell)
		}
	}
	// The shell asks the binary for flag values.
	r := cli.Must(t, exitcode.OK, "__complete", "events", "send", "--output", "")
	if !strings.Contains(r.Stdout, "table\njson\n") {
		t.Errorf("--output completion offers %q", r.Stdout)
	}
}

// closedAddr is an address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestLoginSavesProfileThatLaterCommandsUse(t *testing.T) {
	t.Parallel()
	cli := clitest.New(t)
	ingest := "http://" + closedAddr(t)
	var saved login.Result
	cli.JSON(t, &saved, "login", "--profile", "ci", "--account", "acct1", "--token", "tok-1", "--ingest", ingest, "--no-verify")
	if saved.Profile != "ci" || saved.Account != "acct1" || saved.IngestURL != ingest || saved.APIURL != settings.DefaultAPIURL || saved.Verified {
		t.Errorf("login printed %+v", saved)
	}
	info, err := os.Stat(cli.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("profile file mode %o, want 600", info.Mode().Perm())
	}
	file, err := settings.Load(cli.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if file.Current != "ci" || file.Profiles["ci"].Token != "tok-1" {
		t.Errorf("saved file %+v", file)
	}
	// No --account, --token or --ingest: all come from the profile, and
	// the closed ingest port proves the URL was used.
	r := cli.Run(t.Context(), `{"event":"channel_create"}`, "events", "send", "-")
	if r.Code != exitcode.Unreachable || !strings.Contains(r.Stderr, ingest) {
		t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
	}
	// The environment wins over the profile.
	cli.Env[settings.EnvAccount] = ""
	cli.Env[settings.EnvIngestURL] = "http://" + closedAddr(t)
	r = cli.Run(t.Context(), `{}`, "events", "send", "-")
	if r.Code != exitcode.Unreachable || !strings.Contains(r.Stderr, cli.Env[settings.EnvIngestURL]) {
		t.Errorf("PBXHOOKS_INGEST_URL ignored: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

func TestLoginReadsTokenFromStdin(t *testing.T) {
	t.Parallel()
	cli := clitest.New(t)
	r := cli.Run(t.Context(), "tok-from-stdin\n", "login", "--profile", "piped", "--with-token", "--token", "ignored-by-with-token", "--no-verify")
	if r.Code != exitcode.OK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	file, err := settings.Load(cli.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if got := file.Profiles["piped"].Token; got != "tok-from-stdin" {
		t.Errorf("saved token %q", got)
	}
	if !strings.Contains(r.Stdout, `Saved profile "piped"`) || strings.Contains(r.Stdout, "tok-from-stdin") {
		t.Errorf("login output %q (must not echo the token)", r.Stdout)
	}
	cli.Must(t, exitcode.Usage, "login", "--profile", "empty", "--no-verify")
	cli.Must(t, exitcode.Usage, "login", "--profile", "../x", "--token", "t", "--no-verify")
	cli.Must(t, exitcode.Usage, "login", "--api", "ftp://x", "--token", "t", "--no-verify")
}

func TestLoginRefusedWhenAPIUnreachable(t *testing.T) {
	t.Parallel()
	cli := clitest.New(t)
	r := cli.Must(t, exitcode.Unreachable, "login", "--account", "a", "--token", "t", "--api", "http://"+closedAddr(t))
	if !strings.Contains(r.Stderr, "API at http://") {
		t.Errorf("stderr %q", r.Stderr)
	}
	if _, err := os.Stat(cli.ConfigPath); !os.IsNotExist(err) {
		t.Errorf("a profile was saved although the token could not be checked: %v", err)
	}
}

func TestNamedProfileMustExist(t *testing.T) {
	t.Parallel()
	cli := clitest.New(t)
	r := cli.Must(t, exitcode.Usage, "--profile", "absent", "events", "send", "x")
	if !strings.Contains(r.Stderr, `no profile "absent"`) {
		t.Errorf("stderr %q", r.Stderr)
	}
}

// Every command says what it does, and every runnable one shows how to use
// it: a description beyond the one-liner or an example.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	f := factory.New(&iostreams.IOStreams{}, func(string) (string, bool) { return "", false })
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Short == "" {
			t.Errorf("%q has no Short help", cmd.CommandPath())
		}
		if cmd.Runnable() && cmd.Name() != "help" && cmd.Long == "" && cmd.Example == "" && !isCompletion(cmd) {
			t.Errorf("%q has neither Long help nor an example", cmd.CommandPath())
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root.NewCmdRoot(f))
	cli := clitest.New(t)
	for _, path := range [][]string{
		{"webhooks", "create"}, {"webhooks", "edit"}, {"attempts", "list"}, {"attempts", "tail"},
		{"events", "send"}, {"trigger"}, {"signature", "verify"}, {"login"},
	} {
		r := cli.Must(t, exitcode.OK, append(path, "--help")...)
		if !strings.Contains(r.Stdout, "Examples:") || !strings.Contains(r.Stdout, "Global Flags:") {
			t.Errorf("pbxhooks %s --help lacks examples or the global flags:\n%s", strings.Join(path, " "), r.Stdout)
		}
	}
}

func isCompletion(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		if c.Name() == "completion" {
			return true
		}
	}
	return false
}
