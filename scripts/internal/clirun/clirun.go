// Package clirun builds the pbxhooks CLI (cli/cmd/pbxhooks) and runs it as
// a user does, as a separate process with its own environment and
// configuration directory, so tests see the real exit codes, output
// streams and signal handling.
package clirun

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
)

// CLI is a built binary and the environment it runs in.
type CLI struct {
	Bin string
	// Env is the whole environment of every run: the test process's,
	// without any PBXHOOKS_* variable, with HOME and XDG_CONFIG_HOME in a
	// private directory (so `pbxhooks login` writes there), plus what
	// With adds.
	Env []string
	// ConfigDir is XDG_CONFIG_HOME; profiles land in
	// ConfigDir/pbxhooks/config.json.
	ConfigDir string
}

// Build compiles the CLI into a temporary directory (go build's cache makes
// it cheap) and returns it with a clean environment.
func Build(t *testing.T) *CLI {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pbxhooks")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cli/cmd/pbxhooks")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build pbxhooks: %v\n%s", err, out)
	}
	home := filepath.Join(dir, "home")
	config := filepath.Join(home, ".config")
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PBXHOOKS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+config)
	return &CLI{Bin: bin, Env: env, ConfigDir: config}
}

// With is a copy of c with more environment (KEY=VALUE), later values
// winning.
func (c *CLI) With(kv ...string) *CLI {
	out := *c
	out.Env = append(append([]string(nil), c.Env...), kv...)
	return &out
}

// ProfilePath is where `pbxhooks login` saves profiles.
func (c *CLI) ProfilePath() string { return filepath.Join(c.ConfigDir, "pbxhooks", "config.json") }

// Result is one run's exit code and output.
type Result struct {
	Code   int
	Stdout string
	Stderr string
}

// Run runs the CLI with args and stdin to completion.
func (c *CLI) Run(t *testing.T, stdin string, args ...string) Result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), c.Bin, args...)
	cmd.Env = c.Env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run pbxhooks %s: %v", strings.Join(args, " "), err)
	}
	return Result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
}

// Must runs args and fails the test unless the exit code is want.
func (c *CLI) Must(t *testing.T, want int, args ...string) Result {
	t.Helper()
	r := c.Run(t, "", args...)
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

// ErrorJSON runs args with --output json, requires exit code want and
// returns the JSON error document from stderr.
func (c *CLI) ErrorJSON(t *testing.T, want int, args ...string) ErrorDoc {
	t.Helper()
	r := c.Must(t, want, append(args, "--output", "json")...)
	var doc ErrorDoc
	if err := json.Unmarshal([]byte(r.Stderr), &doc); err != nil {
		t.Fatalf("pbxhooks %s: stderr is not a JSON error: %v\n%s", strings.Join(args, " "), err, r.Stderr)
	}
	if r.Stdout != "" {
		t.Errorf("pbxhooks %s failed but wrote to stdout: %s", strings.Join(args, " "), r.Stdout)
	}
	return doc
}

// ErrorDoc is the CLI's JSON error on stderr.
type ErrorDoc struct {
	Error struct {
		Kind     string          `json:"kind"`
		ExitCode int             `json:"exit_code"`
		Status   int             `json:"status"`
		Message  string          `json:"message"`
		Data     json.RawMessage `json:"data"`
	} `json:"error"`
}

// Running is a CLI process that keeps running (attempts tail, listen).
type Running struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	lines  chan string
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// Start runs args in the background; its stdout lines arrive on Lines.
// The test's end stops it if the test did not.
func (c *CLI) Start(t *testing.T, args ...string) *Running {
	t.Helper()
	cmd := exec.Command(c.Bin, args...)
	cmd.Env = c.Env
	r := &Running{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &r.mu, w: &r.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pbxhooks %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		scanner := bufio.NewScanner(stdout)
		scanner.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for scanner.Scan() {
			r.lines <- scanner.Text()
		}
		close(r.lines)
		err := cmd.Wait()
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// Lines delivers the process's stdout, line by line; it is closed when
// stdout closes.
func (r *Running) Lines() <-chan string { return r.lines }

// Interrupt sends SIGINT (Ctrl-C) and waits up to grace for the exit,
// returning the exit code and stderr; past grace the process is killed
// and the test fails.
func (r *Running) Interrupt(t *testing.T, grace time.Duration) (code int, stderr string) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	go func() {
		// Keep draining stdout so the process never blocks on it.
		for range r.lines {
		}
	}()
	select {
	case <-r.done:
	case <-time.After(grace):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Errorf("pbxhooks did not exit within %s of Ctrl-C", grace)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var exitErr *exec.ExitError
	if errors.As(r.err, &exitErr) {
		code = exitErr.ExitCode()
	}
	return code, r.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
