package config_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

// wantErrs checks that Err names exactly the given variables, each once.
func wantErrs(t *testing.T, e *config.Env, vars ...string) {
	t.Helper()
	err := e.Err()
	if len(vars) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one naming %v", vars)
	}
	for _, v := range vars {
		if n := strings.Count(err.Error(), v+": "); n != 1 {
			t.Errorf("error names %s %d times, want once: %v", v, n, err)
		}
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	e := config.FromMap(map[string]string{"SET": "  value  ", "BLANK": "   "})
	if got := e.String("SET", "def"); got != "value" {
		t.Errorf("SET = %q, want trimmed value", got)
	}
	if got := e.String("BLANK", "def"); got != "def" {
		t.Errorf("blank BLANK = %q, want the default", got)
	}
	if got := e.String("UNSET", "def"); got != "def" {
		t.Errorf("UNSET = %q, want the default", got)
	}
	wantErrs(t, e)
}

func TestRequired(t *testing.T) {
	t.Parallel()
	e := config.FromMap(map[string]string{"HAVE": "x", "EMPTY": ""})
	if got := e.Required("HAVE", "something"); got != "x" {
		t.Errorf("HAVE = %q", got)
	}
	e.Required("MISSING", "the thing to connect to")
	e.Required("EMPTY", "another thing")
	wantErrs(t, e, "MISSING", "EMPTY")
	if !strings.Contains(e.Err().Error(), "the thing to connect to") {
		t.Errorf("error does not say what the variable means: %v", e.Err())
	}
}

func TestInt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    int
		wantErr bool
	}{
		{"", 3, false},
		{"5", 5, false},
		{" 1 ", 1, false},
		{"10", 10, false},
		{"0", 3, true},
		{"11", 3, true},
		{"five", 3, true},
		{"2.5", 3, true},
	} {
		e := config.FromMap(map[string]string{"N": tc.value})
		if got := e.Int("N", 3, 1, 10); got != tc.want {
			t.Errorf("N=%q: got %d, want %d", tc.value, got, tc.want)
		}
		if tc.wantErr {
			wantErrs(t, e, "N")
		} else {
			wantErrs(t, e)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 5 * time.Second, false},
		{"2m", 2 * time.Minute, false},
		{"1s", time.Second, false},
		{"500ms", 5 * time.Second, true},
		{"2h", 5 * time.Second, true},
		{"5", 5 * time.Second, true},
		{"soon", 5 * time.Second, true},
	} {
		e := config.FromMap(map[string]string{"D": tc.value})
		if got := e.Duration("D", 5*time.Second, time.Second, time.Hour); got != tc.want {
			t.Errorf("D=%q: got %s, want %s", tc.value, got, tc.want)
		}
		if tc.wantErr {
			wantErrs(t, e, "D")
		} else {
			wantErrs(t, e)
		}
	}
}

func TestBool(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    bool
		wantErr bool
	}{
		{"", true, false},
		{"false", false, false},
		{"0", false, false},
		{"TRUE", true, false},
		{"yes", true, true},
	} {
		e := config.FromMap(map[string]string{"B": tc.value})
		if got := e.Bool("B", true); got != tc.want {
			t.Errorf("B=%q: got %t, want %t", tc.value, got, tc.want)
		}
		if tc.wantErr {
			wantErrs(t, e, "B")
		} else {
			wantErrs(t, e)
		}
	}
}

func TestAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    string
		wantErr bool
	}{
		{"", ":8080", false},
		{"127.0.0.1:9000", "127.0.0.1:9000", false},
		{"[::1]:80", "[::1]:80", false},
		{"8080", ":8080", true},
		{"host", ":8080", true},
	} {
		e := config.FromMap(map[string]string{"LISTEN": tc.value})
		if got := e.Addr("LISTEN", ":8080"); got != tc.want {
			t.Errorf("LISTEN=%q: got %q, want %q", tc.value, got, tc.want)
		}
		if tc.wantErr {
			wantErrs(t, e, "LISTEN")
		} else {
			wantErrs(t, e)
		}
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		def     string
		want    string
		wantErr bool
	}{
		{"", "", "", false},
		{"", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222", false},
		{"nats://n1:4222", "", "nats://n1:4222", false},
		{"tls://n1:4222", "", "tls://n1:4222", false},
		{"http://n1:4222", "", "", true},
		{"n1:4222", "", "", true},
		{"/just/a/path", "", "", true},
		{"nats://%zz", "", "", true},
	} {
		e := config.FromMap(map[string]string{"U": tc.value})
		if got := e.URL("U", tc.def, "nats", "tls"); got != tc.want {
			t.Errorf("U=%q: got %q, want %q", tc.value, got, tc.want)
		}
		if tc.wantErr {
			wantErrs(t, e, "U")
		} else {
			wantErrs(t, e)
		}
	}
}

func TestPrefixes(t *testing.T) {
	t.Parallel()
	e := config.FromMap(map[string]string{"NETS": " 10.1.2.3/8, ,::1/128,192.168.0.0/16 "})
	got := e.Prefixes("NETS")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.168.0.0/16")}
	if !slices.Equal(got, want) {
		t.Errorf("prefixes = %v, want %v (masked, blanks skipped)", got, want)
	}
	wantErrs(t, e)

	if got := config.FromMap(nil).Prefixes("NETS"); got != nil {
		t.Errorf("unset: got %v, want nil", got)
	}

	e = config.FromMap(map[string]string{"NETS": "10.0.0.0/8,not-a-prefix,10.0.0.1"})
	if got := e.Prefixes("NETS"); len(got) != 1 {
		t.Errorf("got %v, want only the valid prefix", got)
	}
	err := e.Err()
	if err == nil || strings.Count(err.Error(), "NETS: ") != 2 || !strings.Contains(err.Error(), "not-a-prefix") {
		t.Errorf("want one error per bad entry naming NETS, got %v", err)
	}
}

func TestErrJoinsEveryProblem(t *testing.T) {
	t.Parallel()
	e := config.FromMap(map[string]string{
		"NATS_STREAM_REPLICAS": "seven",
		"SHUTDOWN_TIMEOUT":     "1h",
	})
	common := config.ReadCommon(e)
	config.ReadDatabaseURL(e)
	wantErrs(t, e, "NATS_URL", "NATS_STREAM_REPLICAS", "SHUTDOWN_TIMEOUT", "DATABASE_URL")
	if !strings.HasPrefix(e.Err().Error(), "invalid configuration: ") {
		t.Errorf("error = %v", e.Err())
	}
	// Defaults stand in for the bad values so the caller has a usable struct.
	if common.StreamReplicas != 1 || common.ShutdownTimeout != 20*time.Second || common.LogLevel != "info" {
		t.Errorf("defaults not applied: %+v", common)
	}
}

func TestReadCommon(t *testing.T) {
	t.Parallel()
	e := config.FromMap(map[string]string{
		"NATS_URL":             "nats://127.0.0.1:4222",
		"LOG_LEVEL":            "debug",
		"NATS_STREAM_REPLICAS": "3",
		"SHUTDOWN_TIMEOUT":     "45s",
		"DATABASE_URL":         "postgres://u@127.0.0.1/db",
	})
	got := config.ReadCommon(e)
	want := config.Common{NATSURL: "nats://127.0.0.1:4222", LogLevel: "debug", StreamReplicas: 3, ShutdownTimeout: 45 * time.Second}
	if got != want {
		t.Errorf("ReadCommon = %+v, want %+v", got, want)
	}
	if db := config.ReadDatabaseURL(e); db != "postgres://u@127.0.0.1/db" {
		t.Errorf("DATABASE_URL = %q", db)
	}
	wantErrs(t, e)
}

func TestFromOS(t *testing.T) {
	t.Setenv("PBXHOOKS_CONFIG_TEST", "from-env")
	if got := config.FromOS().String("PBXHOOKS_CONFIG_TEST", ""); got != "from-env" {
		t.Errorf("got %q", got)
	}
}

func TestNATSCredentials(t *testing.T) {
	t.Parallel()
	base := map[string]string{"NATS_URL": "nats://127.0.0.1:4222"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	e := config.FromMap(with(map[string]string{"NATS_USER": "svc-api", "NATS_PASSWORD": "secret-password-0123"}))
	if c := config.ReadCommon(e); e.Err() != nil || c.NATSCredentials.User != "svc-api" || c.NATSCredentials.Password != "secret-password-0123" {
		t.Fatalf("user and password: %+v, %v", c.NATSCredentials, e.Err())
	}
	for name, env := range map[string]map[string]string{
		"user without password": {"NATS_USER": "svc-api"},
		"password without user": {"NATS_PASSWORD": "secret-password-0123"},
		"creds and user":        {"NATS_USER": "svc-api", "NATS_PASSWORD": "x", "NATS_CREDS": "/etc/nats/api.creds"},
	} {
		e := config.FromMap(with(env))
		config.ReadCommon(e)
		if e.Err() == nil || !strings.Contains(e.Err().Error(), "NATS_") {
			t.Errorf("%s: error %v, want one naming the variable", name, e.Err())
		}
	}
}

func TestExpectRefusesUnlistedVariables(t *testing.T) {
	t.Parallel()
	e := config.FromMap(map[string]string{"MATCHER_WORKERS": "4", "NOT_LISTED": "x"})
	e.Expect("matcher")
	if got := e.Int("MATCHER_WORKERS", 8, 1, 1024); got != 4 {
		t.Errorf("MATCHER_WORKERS = %d, want 4", got)
	}
	e.String("NOT_LISTED", "")
	e.Addr("DELIVERER_HEALTH_ADDR", "127.0.0.1:8083")
	wantErrs(t, e, "NOT_LISTED", "DELIVERER_HEALTH_ADDR")
	if !strings.Contains(e.Err().Error(), "is read by matcher but missing from its list") {
		t.Errorf("error does not say which list lacks the variable: %v", e.Err())
	}
}

func TestVariablesListEveryServiceWithTheCommonOnes(t *testing.T) {
	t.Parallel()
	if got, want := config.Services(), []string{"api", "connector", "deliverer", "ingest", "matcher"}; !slices.Equal(got, want) {
		t.Fatalf("Services() = %v, want %v", got, want)
	}
	for _, svc := range config.Services() {
		vars := config.Variables(svc)
		for _, common := range []string{"NATS_URL", "SHUTDOWN_TIMEOUT", "LOG_LEVEL"} {
			if !slices.Contains(vars, common) {
				t.Errorf("Variables(%q) lacks %s", svc, common)
			}
		}
		sorted := slices.Clone(vars)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(vars) {
			t.Errorf("Variables(%q) names a variable twice: %v", svc, vars)
		}
	}
	if config.Variables("no-such-service") != nil {
		t.Error("Variables of an unknown service is not nil")
	}
}
