// Package settings resolves where the CLI talks to and as whom: each value
// from its flag, else its environment variable, else the selected profile
// of the user's configuration file, else its default. Profiles are written
// by `pbxhooks login` to <user config dir>/pbxhooks/config.json, mode 0600
// because they hold tokens.
package settings

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// The CLI's environment variables. They configure this client only; the
// services never read them (pkg/config lists the services' variables).
const (
	EnvAPIURL    = "PBXHOOKS_API_URL"
	EnvIngestURL = "PBXHOOKS_INGEST_URL"
	EnvToken     = "PBXHOOKS_TOKEN"
	EnvAccount   = "PBXHOOKS_ACCOUNT"
	EnvProfile   = "PBXHOOKS_PROFILE"
)

// Defaults: the addresses `make run` serves on.
const (
	DefaultAPIURL    = "http://127.0.0.1:8080"
	DefaultIngestURL = "http://127.0.0.1:8081"
	// DefaultProfile is used when neither --profile, PBXHOOKS_PROFILE nor
	// the file's current profile names one.
	DefaultProfile = "default"
)

// Settings are the resolved values a command runs with.
type Settings struct {
	APIURL    string `json:"api"`
	IngestURL string `json:"ingest"`
	Token     string `json:"-"`
	Account   string `json:"account"`
	// Profile is the profile the values were read from (it need not exist).
	Profile string `json:"profile"`
}

// Profile is one named entry of the configuration file.
type Profile struct {
	APIURL    string `json:"api,omitempty"`
	IngestURL string `json:"ingest,omitempty"`
	Token     string `json:"token,omitempty"`
	Account   string `json:"account,omitempty"`
}

// File is the configuration file's content.
type File struct {
	// Current is the profile used when none is named.
	Current  string             `json:"current,omitempty"`
	Profiles map[string]Profile `json:"profiles"`
}

// Overrides are the global flags; an empty value was not given.
type Overrides struct {
	APIURL, IngestURL, Token, Account, Profile string
}

// LookupEnv reads an environment variable (os.LookupEnv, or a map in tests).
type LookupEnv func(string) (string, bool)

var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidProfileName reports whether name may name a profile: letters,
// digits, '.', '_' and '-', at most 64, not starting with a punctuation.
func ValidProfileName(name string) error {
	if !profileName.MatchString(name) {
		return fmt.Errorf("profile name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Resolve applies the precedence flag > environment > profile > default.
// A profile named by --profile or PBXHOOKS_PROFILE must exist in file.
func Resolve(flags Overrides, env LookupEnv, file File) (Settings, error) {
	envValue := func(name string) string {
		v, _ := env(name)
		return v
	}
	name := cmp.Or(flags.Profile, envValue(EnvProfile))
	explicit := name != ""
	name = cmp.Or(name, file.Current, DefaultProfile)
	profile, found := file.Profiles[name]
	if explicit && !found {
		return Settings{}, fmt.Errorf("no profile %q (create it with `pbxhooks login --profile %s`)", name, name)
	}
	return Settings{
		APIURL:    cmp.Or(flags.APIURL, envValue(EnvAPIURL), profile.APIURL, DefaultAPIURL),
		IngestURL: cmp.Or(flags.IngestURL, envValue(EnvIngestURL), profile.IngestURL, DefaultIngestURL),
		Token:     cmp.Or(flags.Token, envValue(EnvToken), profile.Token),
		Account:   cmp.Or(flags.Account, envValue(EnvAccount), profile.Account),
		Profile:   name,
	}, nil
}

// DefaultPath is <user config dir>/pbxhooks/config.json
// ($XDG_CONFIG_HOME or ~/.config on Linux).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user configuration directory: %w", err)
	}
	return filepath.Join(dir, "pbxhooks", "config.json"), nil
}

// maxFileBytes bounds the configuration file read: it holds a few
// profiles, never megabytes.
const maxFileBytes = 1 << 20

// Load reads the configuration file; a missing file is an empty one.
func Load(path string) (File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{Profiles: map[string]Profile{}}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return File{}, fmt.Errorf("read %s: larger than %d bytes", path, maxFileBytes)
	}
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return File{}, fmt.Errorf("read %s: %w", path, err)
	}
	if f.Profiles == nil {
		f.Profiles = map[string]Profile{}
	}
	return f, nil
}

// Save writes the file atomically with mode 0600 in a directory of mode
// 0700: the tokens are readable by the user only, even while being
// written.
func Save(path string, f File) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.json")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; Chmod keeps it so whatever
	// the umask.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
