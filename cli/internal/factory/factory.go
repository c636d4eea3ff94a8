// Package factory gives every command what it needs from outside (streams,
// settings, HTTP client, output format) through one value, so a command is
// built and tested the same way: the gh CLI's cmdutil.Factory.
package factory

import (
	"net/http"
	"time"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/iostreams"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/cli/internal/settings"
)

// Factory is shared by the command tree. The root command fills Flags and
// Output from its persistent flags before any command runs.
type Factory struct {
	IO        *iostreams.IOStreams
	LookupEnv settings.LookupEnv
	// ConfigPath locates the configuration file (settings.DefaultPath).
	ConfigPath func() (string, error)
	// HTTPClient calls the API and ingest. Its timeout bounds each request
	// (a following command like `attempts tail` makes many).
	HTTPClient *http.Client

	// Flags are the global --api, --ingest, --token, --account, --profile.
	Flags settings.Overrides
	// Output is the parsed --output.
	Output output.Format
}

// RequestTimeout bounds one HTTP request of the CLI.
const RequestTimeout = 30 * time.Second

// New is the factory of a real run.
func New(io *iostreams.IOStreams, lookupEnv settings.LookupEnv) *Factory {
	return &Factory{
		IO: io, LookupEnv: lookupEnv, ConfigPath: settings.DefaultPath,
		HTTPClient: &http.Client{
			Timeout: RequestTimeout,
			// An API answers, it never redirects: a redirect would carry
			// the token elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Output: output.Table,
	}
}

// ConfigFile loads the configuration file and returns it with its path.
func (f *Factory) ConfigFile() (settings.File, string, error) {
	path, err := f.ConfigPath()
	if err != nil {
		return settings.File{}, "", err
	}
	file, err := settings.Load(path)
	return file, path, err
}

// Settings resolves flags, environment and profile. A missing named
// profile is a usage error.
func (f *Factory) Settings() (settings.Settings, error) {
	file, _, err := f.ConfigFile()
	if err != nil {
		return settings.Settings{}, err
	}
	s, err := settings.Resolve(f.Flags, f.LookupEnv, file)
	if err != nil {
		return settings.Settings{}, exitcode.AsUsage(err)
	}
	return s, nil
}

// AccountSettings resolves the settings of a command that acts on an
// account with a token: both are required (usage error otherwise).
func (f *Factory) AccountSettings() (settings.Settings, error) {
	s, err := f.Settings()
	if err != nil {
		return s, err
	}
	if s.Token == "" {
		return s, exitcode.Usagef("no token: pass --token, set %s, or run `pbxhooks login`", settings.EnvToken)
	}
	if s.Account == "" {
		return s, exitcode.Usagef("no account: pass --account, set %s, or run `pbxhooks login --account ID`", settings.EnvAccount)
	}
	return s, nil
}

// Printer writes results to stdout in the --output format.
func (f *Factory) Printer() *output.Printer { return output.NewPrinter(f.IO.Out, f.Output) }
