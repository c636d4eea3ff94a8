package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// engine is the Docker engine the check uses. dockerd is set only when the
// check started it, and so must stop it.
type engine struct {
	dockerd *exec.Cmd
	exited  chan struct{}
	logPath string
}

// startEngine returns the engine that answers `docker info`, or installs
// (Debian's docker.io) and starts one.
func startEngine(ctx context.Context, work string) (*engine, error) {
	if dockerAnswers(ctx) {
		fmt.Println("using the running Docker engine")
		return &engine{}, nil
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("no Docker engine answers, and starting one needs root: run as root, or start dockerd yourself")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		if err := aptInstall(ctx, "docker.io"); err != nil {
			return nil, err
		}
	}
	e := &engine{exited: make(chan struct{}), logPath: filepath.Join(work, "dockerd.log")}
	logFile, err := os.Create(e.logPath)
	if err != nil {
		return nil, err
	}
	e.dockerd = exec.Command("dockerd")
	e.dockerd.Stdout, e.dockerd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C on the terminal reaches the check,
	// which then tears down the stack before it stops dockerd.
	e.dockerd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.dockerd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start dockerd: %w", err)
	}
	go func() {
		_ = e.dockerd.Wait()
		logFile.Close()
		close(e.exited)
	}()
	fmt.Printf("started dockerd (pid %d, log %s)\n", e.dockerd.Process.Pid, e.logPath)

	deadline := time.Now().Add(90 * time.Second)
	for !dockerAnswers(ctx) {
		select {
		case <-e.exited:
			return nil, fmt.Errorf("dockerd exited at start:\n%s", tail(e.logPath, 30))
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), e.Stop(context.WithoutCancel(ctx)))
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("dockerd did not answer within 90s:\n%s", tail(e.logPath, 30)), e.Stop(ctx))
		}
	}
	return e, nil
}

// Stop stops dockerd if the check started it (its containerd goes with it).
func (e *engine) Stop(ctx context.Context) error {
	if e.dockerd == nil {
		return nil
	}
	fmt.Println("stopping the dockerd this check started")
	_ = e.dockerd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
		return nil
	case <-time.After(45 * time.Second):
	case <-ctx.Done():
	}
	_ = e.dockerd.Process.Kill()
	<-e.exited
	return fmt.Errorf("dockerd did not stop on SIGTERM; killed it:\n%s", tail(e.logPath, 20))
}

func dockerAnswers(ctx context.Context) bool {
	if _, err := exec.LookPath("docker"); err != nil {
		return false
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(c, "docker", "info", "--format", "{{.ServerVersion}}").Run() == nil
}

// aptInstall installs Debian packages; the check's only use of apt.
func aptInstall(ctx context.Context, pkgs ...string) error {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s missing and no apt-get to install it: install it yourself", strings.Join(pkgs, ", "))
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := runCmd(ctx, cmdOpts{env: env}, "apt-get", "update", "-q"); err != nil {
		return err
	}
	return runCmd(ctx, cmdOpts{env: env}, "apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)...)
}

// cmdOpts are the optional parts of running a command.
type cmdOpts struct {
	dir   string
	env   []string // nil: the check's own environment
	stdin io.Reader
	quiet bool // keep the output unless the command fails
}

// runCmd runs a command, its output shown as it comes (or, when quiet, only
// on failure), and names the command in its error.
func runCmd(ctx context.Context, o cmdOpts, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = o.dir, o.env, o.stdin
	var buf bytes.Buffer
	if o.quiet {
		cmd.Stdout, cmd.Stderr = &buf, &buf
	} else {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		fmt.Printf("$ %s %s\n", name, strings.Join(args, " "))
	}
	if err := cmd.Run(); err != nil {
		if o.quiet {
			os.Stderr.Write(buf.Bytes())
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// output runs a command and returns its trimmed standard output.
func output(ctx context.Context, o cmdOpts, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = o.dir, o.env, o.stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
