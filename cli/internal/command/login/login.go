// Package login is `pbxhooks login`: save a named profile (API and ingest
// URLs, account, token) so later commands need no flags.
package login

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/api"
	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/cli/internal/settings"
)

// maxTokenBytes bounds a token read from stdin.
const maxTokenBytes = 4096

// Result is what login prints (--output json).
type Result struct {
	Profile   string `json:"profile"`
	APIURL    string `json:"api"`
	IngestURL string `json:"ingest"`
	Account   string `json:"account"`
	Path      string `json:"path"`
	// Verified is true when the API accepted the token for the account.
	Verified bool `json:"verified"`
	// AccountExists is false when the verified account has no webhooks
	// yet: accounts come into being with their first webhook.
	AccountExists bool `json:"account_exists"`
}

// NewCmdLogin builds `pbxhooks login`.
func NewCmdLogin(f *factory.Factory) *cobra.Command {
	var withToken, noVerify bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Save API URL, account and token as a named profile",
		Long: `Save the settings given by the global flags or environment (--api, --ingest,
--account, --token) as the profile named by --profile (default "default") in
<user config dir>/pbxhooks/config.json, with mode 0600, and make it the
profile later commands use. Settings not given keep the profile's saved
values.

Without --token (or PBXHOOKS_TOKEN), or with --with-token, the token is read
from standard input (a prompt on a terminal), which keeps it out of the
shell history. When an account is set, the API checks the token first (a
refused token exits 3 and nothing is saved); --no-verify skips the check.`,
		Example: `  pbxhooks login --account demo --token pbxhooks-dev-admin-token
  pbxhooks login --profile prod --api https://hooks.example.com --account acme --with-token < token.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), f, withToken, noVerify)
		},
	}
	cmd.Flags().BoolVar(&withToken, "with-token", false, "read the token from standard input")
	cmd.Flags().BoolVar(&noVerify, "no-verify", false, "save without checking the token against the API")
	return cmd
}

func run(ctx context.Context, f *factory.Factory, withToken, noVerify bool) error {
	file, path, err := f.ConfigFile()
	if err != nil {
		return err
	}
	envProfile, _ := f.LookupEnv(settings.EnvProfile)
	name := cmp.Or(f.Flags.Profile, envProfile, settings.DefaultProfile)
	if err := settings.ValidProfileName(name); err != nil {
		return exitcode.AsUsage(err)
	}
	// Resolve against the file as if the profile existed, so a new
	// profile starts from flags, environment and defaults.
	if _, ok := file.Profiles[name]; !ok {
		file.Profiles[name] = settings.Profile{}
	}
	overrides := f.Flags
	overrides.Profile = name
	s, err := settings.Resolve(overrides, f.LookupEnv, file)
	if err != nil {
		return exitcode.AsUsage(err)
	}
	for _, u := range []struct{ flag, value string }{{"--api", s.APIURL}, {"--ingest", s.IngestURL}} {
		if err := checkBaseURL(u.value); err != nil {
			return exitcode.Usagef("%s: %v", u.flag, err)
		}
	}
	if withToken || s.Token == "" {
		if s.Token, err = readToken(f); err != nil {
			return err
		}
	}
	result := Result{Profile: name, APIURL: s.APIURL, IngestURL: s.IngestURL, Account: s.Account, Path: path}
	if s.Account != "" && !noVerify {
		exists, err := verify(ctx, f, s)
		if err != nil {
			return err
		}
		result.Verified, result.AccountExists = true, exists
	}
	file.Profiles[name] = settings.Profile{APIURL: s.APIURL, IngestURL: s.IngestURL, Token: s.Token, Account: s.Account}
	file.Current = name
	if err := settings.Save(path, file); err != nil {
		return err
	}
	return f.Printer().Render(result, func(w io.Writer) error {
		check := "token not checked (no account)"
		switch {
		case result.Verified && !result.AccountExists:
			check = "token accepted by the API; account " + s.Account + " has no webhooks yet (its first webhook creates it)"
		case result.Verified:
			check = "token accepted by the API"
		case noVerify && s.Account != "":
			check = "token not checked (--no-verify)"
		}
		fmt.Fprintf(w, "Saved profile %q in %s; %s.\n", name, path, check)
		return output.WriteFields(w, []output.Field{
			{Name: "api", Value: s.APIURL}, {Name: "ingest", Value: s.IngestURL}, {Name: "account", Value: s.Account},
		})
	})
}

// readToken reads one line from stdin, prompting on a terminal.
func readToken(f *factory.Factory) (string, error) {
	if f.IO.InIsTerminal {
		fmt.Fprint(f.IO.ErrOut, "Paste the API token: ")
	}
	line, err := bufio.NewReader(io.LimitReader(f.IO.In, maxTokenBytes)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", exitcode.Failuref("read the token from standard input: %w", err)
	}
	token := strings.TrimSpace(line)
	if token == "" {
		return "", exitcode.Usagef("no token: pass --token, set %s, or write it to standard input", settings.EnvToken)
	}
	return token, nil
}

// checkBaseURL accepts an absolute http(s) URL without query or fragment.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) base URL like http://127.0.0.1:8080", raw)
	}
	return nil
}

// verify lists the account's webhooks with the token: the cheapest call
// that proves the token may use the API for that account. A 404 passed
// authentication and authorization: the account has no webhooks yet.
func verify(ctx context.Context, f *factory.Factory, s settings.Settings) (accountExists bool, err error) {
	client, err := api.NewFor(f, s)
	if err != nil {
		return false, err
	}
	const what = "check the token"
	resp, err := client.ListHooksWithResponse(ctx, client.Account())
	if err != nil {
		return false, client.CallFailed(what, err)
	}
	if resp.StatusCode() == http.StatusNotFound {
		return false, nil
	}
	return true, api.Refused(what, resp.HTTPResponse, resp.Body)
}
