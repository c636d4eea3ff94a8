package settings

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolvePrecedence(t *testing.T) {
	t.Parallel()
	file := File{Current: "work", Profiles: map[string]Profile{
		"work":  {APIURL: "https://work.example", Token: "work-token", Account: "work-acct"},
		"other": {APIURL: "https://other.example", IngestURL: "https://ingest.other.example", Token: "other-token", Account: "other-acct"},
	}}
	tests := []struct {
		name  string
		flags Overrides
		env   map[string]string
		want  Settings
	}{
		{
			name: "current profile fills what flags and environment leave",
			want: Settings{APIURL: "https://work.example", IngestURL: DefaultIngestURL, Token: "work-token", Account: "work-acct", Profile: "work"},
		},
		{
			name: "environment wins over the profile",
			env:  map[string]string{EnvToken: "env-token", EnvAccount: "env-acct", EnvIngestURL: "http://ingest.env"},
			want: Settings{APIURL: "https://work.example", IngestURL: "http://ingest.env", Token: "env-token", Account: "env-acct", Profile: "work"},
		},
		{
			name:  "flags win over environment",
			flags: Overrides{Token: "flag-token", APIURL: "http://flag"},
			env:   map[string]string{EnvToken: "env-token", EnvAPIURL: "http://env"},
			want:  Settings{APIURL: "http://flag", IngestURL: DefaultIngestURL, Token: "flag-token", Account: "work-acct", Profile: "work"},
		},
		{
			name: "PBXHOOKS_PROFILE selects a profile",
			env:  map[string]string{EnvProfile: "other"},
			want: Settings{APIURL: "https://other.example", IngestURL: "https://ingest.other.example", Token: "other-token", Account: "other-acct", Profile: "other"},
		},
		{
			name:  "--profile wins over PBXHOOKS_PROFILE",
			flags: Overrides{Profile: "work"},
			env:   map[string]string{EnvProfile: "other"},
			want:  Settings{APIURL: "https://work.example", IngestURL: DefaultIngestURL, Token: "work-token", Account: "work-acct", Profile: "work"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Resolve(tt.flags, mapEnv(tt.env), file)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestResolveDefaultsWithoutFile(t *testing.T) {
	t.Parallel()
	got, err := Resolve(Overrides{}, mapEnv(nil), File{})
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{APIURL: DefaultAPIURL, IngestURL: DefaultIngestURL, Profile: DefaultProfile}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestResolveRefusesMissingNamedProfile(t *testing.T) {
	t.Parallel()
	if _, err := Resolve(Overrides{Profile: "nope"}, mapEnv(nil), File{}); err == nil {
		t.Error("--profile nope resolved without such a profile")
	}
	if _, err := Resolve(Overrides{}, mapEnv(map[string]string{EnvProfile: "nope"}), File{}); err == nil {
		t.Error("PBXHOOKS_PROFILE=nope resolved without such a profile")
	}
}

func TestSaveWritesOwnerOnlyFileAndLoadReadsIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config", "pbxhooks", "config.json")
	want := File{Current: "ci", Profiles: map[string]Profile{"ci": {APIURL: "http://api", Token: "secret-token", Account: "acct"}}}
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("config file mode %o, want 600", mode)
	}
	dirInfo, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if mode := dirInfo.Mode().Perm(); mode != 0o700 {
		t.Errorf("config directory mode %o, want 700", mode)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Current != want.Current || got.Profiles["ci"] != want.Profiles["ci"] {
		t.Errorf("loaded %+v, want %+v", got, want)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after Save, want only config.json (no temporary left)", len(entries))
	}
}

func TestLoadMissingFileIsEmpty(t *testing.T) {
	t.Parallel()
	f, err := Load(filepath.Join(t.TempDir(), "absent.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Current != "" || len(f.Profiles) != 0 || f.Profiles == nil {
		t.Errorf("got %+v, want an empty file with a usable Profiles map", f)
	}
}

func TestLoadRefusesBrokenFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Error("Load accepted a file that is not JSON")
	}
}

func TestValidProfileName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"default", "prod-eu", "ci.1", "A_b"} {
		if err := ValidProfileName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "../etc", "a b", string(make([]byte, 65))} {
		if ValidProfileName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func mapEnv(m map[string]string) LookupEnv {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}
