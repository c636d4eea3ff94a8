// Package clitest runs the pbxhooks command tree in-process for tests: real
// commands, real HTTP to whatever URL the test gives, captured streams, and
// a private configuration file and environment.
package clitest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/cli/internal/command/root"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/iostreams"
)

// CLI is one user's terminal: environment variables and a configuration
// file kept across runs.
type CLI struct {
	Env        map[string]string
	ConfigPath string
}

// New is a CLI with an empty environment and no configuration file yet.
func New(t *testing.T) *CLI {
	return &CLI{Env: map[string]string{}, ConfigPath: filepath.Join(t.TempDir(), "pbxhooks", "config.json")}
}

// Result is one run's exit code and output.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

// Run runs args with stdin and returns what happened.
func (c *CLI) Run(ctx context.Context, stdin string, args ...string) Result {
	streams, in, out, errOut := iostreams.Test()
	in.WriteString(stdin)
	f := factory.New(streams, func(name string) (string, bool) {
		v, ok := c.Env[name]
		return v, ok
	})
	f.ConfigPath = func() (string, error) { return c.ConfigPath, nil }
	code := root.Run(ctx, f, args)
	return Result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
}

// Must runs args and fails the test unless it exits with want.
func (c *CLI) Must(t *testing.T, want int, args ...string) Result {
	t.Helper()
	r := c.Run(t.Context(), "", args...)
	if r.Code != want {
		t.Fatalf("pbxhooks %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, want, r.Stdout, r.Stderr)
	}
	return r
}

// JSON runs args with --output json, requires exit 0 and decodes stdout
// into out.
func (c *CLI) JSON(t *testing.T, out any, args ...string) {
	t.Helper()
	r := c.Must(t, 0, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(r.Stdout), out); err != nil {
		t.Fatalf("pbxhooks %s: stdout is not the JSON expected: %v\n%s", strings.Join(args, " "), err, r.Stdout)
	}
}
