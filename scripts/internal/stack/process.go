// Package stack starts pbxhooks' four services as separate OS processes, the
// way they run in production, for `make run`, the end-to-end test, the
// benchmark and the fault suite.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Services lists the long-running binaries in start order: the consumers
// first so nothing waits on them, the intake (ingest, api) last.
var Services = []string{"deliverer", "matcher", "ingest", "api"}

// Build compiles the four service binaries into dir from the repository
// root at repoRoot.
func Build(ctx context.Context, repoRoot, dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, s := range Services {
		args = append(args, "./services/"+s+"/cmd/"+s)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build services: %w\n%s", err, out)
	}
	return nil
}

// Process is one running service binary.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs binary with the given environment (added to the current one),
// sending its output to out.
func Start(name, binary string, env []string, out io.Writer, args ...string) (*Process, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so a Ctrl-C in the terminal reaches only the
	// launcher, which then stops the services in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the exit error, valid after Done is closed.
func (p *Process) Err() error { return p.err }

// Pid is the OS process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to grace for a clean exit, then kills.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		var exitErr *exec.ExitError
		if p.err != nil && !errors.As(p.err, &exitErr) {
			return p.err
		}
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s and was killed", p.Name, grace)
	}
}

// Kill sends SIGKILL and waits, for fault tests.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// WaitReady polls url until it answers 200, the process exits, or ctx ends.
func WaitReady(ctx context.Context, p *Process, url string) error {
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w", p.Name, url, ctx.Err())
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.Name, p.err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}

// RepoRoot finds the directory holding go.work, walking up from dir.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work above %s", dir)
		}
	}
}

// syncWriter serialises writes from several processes onto one writer so
// their log lines do not interleave mid-line.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// SyncWriter wraps w for use by several processes at once.
func SyncWriter(w io.Writer) io.Writer { return &syncWriter{w: w} }

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
