package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// buildCompose builds the pinned Docker Compose v2 into bin/ (the Go build
// cache makes later runs a relink) and returns its path. Pinned rather than
// whatever plugin is installed: the override below needs Compose 2.24.4 or
// newer, and the check should not depend on the machine's choice.
func buildCompose(ctx context.Context, root string) (string, error) {
	const module = "github.com/docker/compose/v2"
	bin := repoPath(root, "bin/docker-compose")
	o := cmdOpts{dir: repoPath(root, "scripts/tools/compose"), env: append(os.Environ(), "GOWORK=off")}
	pinned, err := output(ctx, o, "go", "list", "-m", "-f", "{{.Version}}", module)
	if err != nil {
		return "", err
	}
	// As Compose's own release build stamps it; unstamped it says "dev".
	if err := runCmd(ctx, o, "go", "build", "-ldflags", "-X "+module+"/internal.Version="+pinned,
		"-o", bin, module+"/cmd"); err != nil {
		return "", err
	}
	version, err := output(ctx, cmdOpts{}, bin, "version", "--short")
	if err != nil {
		return "", err
	}
	fmt.Println("docker compose", version)
	return bin, nil
}

// composeOverride is the check's only change to the compose file: host ports
// that Docker picks, so a `make run` or a server already on 8080, 8081 or 4222
// never collides, and NATS not published at all.
const composeOverride = `services:
  nats:
    ports: !reset []
  api:
    ports: !override ["127.0.0.1::8080"]
  ingest:
    ports: !override ["127.0.0.1::8081"]
`

// composeStack is docker-compose.yml started under the check's project.
type composeStack struct {
	bin, root, work string
	env             []string

	// Set by up: where the published ports landed.
	apiURL, ingestURL string
}

// load reads the compose file as Compose will, for the image names to build.
func (c *composeStack) load(ctx context.Context) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{repoPath(c.root, "docker-compose.yml")},
		cli.WithWorkingDirectory(c.root), cli.WithName(project), cli.WithEnv(c.env))
	if err != nil {
		return nil, err
	}
	proj, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("load docker-compose.yml: %w", err)
	}
	return proj, nil
}

func (c *composeStack) args(rest ...string) []string {
	override := filepath.Join(c.work, "compose.override.yml")
	return append([]string{"--project-name", project, "--project-directory", c.root,
		"--file", repoPath(c.root, "docker-compose.yml"), "--file", override}, rest...)
}

func (c *composeStack) compose(ctx context.Context, rest ...string) error {
	return runCmd(ctx, cmdOpts{dir: c.root, env: c.env}, c.bin, c.args(rest...)...)
}

// up starts the stack from the local images and waits until every service
// is healthy and the migrate job has finished.
func (c *composeStack) up(ctx context.Context) error {
	if err := os.WriteFile(filepath.Join(c.work, "compose.override.yml"), []byte(composeOverride), 0o644); err != nil {
		return err
	}
	if err := c.compose(ctx, "up", "--detach", "--no-build", "--pull", "never", "--wait", "--wait-timeout", "300"); err != nil {
		return err
	}
	if err := c.compose(ctx, "ps", "--all"); err != nil {
		return err
	}
	var err error
	if c.apiURL, err = c.publishedURL(ctx, "api", "8080"); err != nil {
		return err
	}
	c.ingestURL, err = c.publishedURL(ctx, "ingest", "8081")
	return err
}

func (c *composeStack) publishedURL(ctx context.Context, service, port string) (string, error) {
	addr, err := output(ctx, cmdOpts{dir: c.root, env: c.env}, c.bin, c.args("port", service, port)...)
	if err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

// gateway is the host's address on the project's network: where the
// containers reach the receiver this check runs.
func (c *composeStack) gateway(ctx context.Context) (string, error) {
	ip, err := output(ctx, cmdOpts{}, "docker", "network", "inspect", project+"_default",
		"--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}")
	if err != nil {
		return "", err
	}
	if fields := strings.Fields(ip); len(fields) > 0 {
		return fields[0], nil
	}
	return "", fmt.Errorf("network %s_default has no gateway", project)
}

// down removes the project's containers, network and volumes.
func (c *composeStack) down(ctx context.Context) error {
	if err := os.WriteFile(filepath.Join(c.work, "compose.override.yml"), []byte(composeOverride), 0o644); err != nil {
		return err
	}
	return c.compose(ctx, "down", "--volumes", "--remove-orphans", "--timeout", "20")
}

// dumpLogs shows what the containers said, for a failed run.
func (c *composeStack) dumpLogs(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	_ = c.compose(ctx, "ps", "--all")
	_ = c.compose(ctx, "logs", "--no-color", "--tail", "80")
}
