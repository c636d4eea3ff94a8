// Command composecheck is `make compose-check`: it starts the real
// docker-compose.yml on this machine and runs the README's curl flow against
// it, without any image registry.
//
// What it does, in order, undoing on the way out what it did:
//   - a Docker engine: uses the one that answers; else installs Debian's
//     docker.io when dockerd is missing, starts dockerd, and stops it at the end;
//   - Docker Compose v2: the version pinned in scripts/tools/compose/go.mod,
//     built from the Go module proxy into bin/;
//   - every image the compose file names, built locally: the four services
//     from deployments/Dockerfile, and stand-ins for the images a registry
//     would give (images.go) unless the real ones are already here;
//   - `docker compose up --wait` under its own project name with host ports
//     chosen by Docker (so `make run` and local servers never collide), the
//     README's requests (flow.go), then `docker compose down --volumes`.
//
// The static checks of the compose file and the Dockerfile are this
// package's tests, part of `make test`.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
)

// project is the compose project name: apart from a user's own `pbxhooks`
// project, so its containers and volumes are never touched.
const project = "pbxhooks-composecheck"

// allowCIDRs lets callbacks reach the receiver this check runs on the compose
// network's gateway: Docker's default address pools for bridge networks.
const allowCIDRs = "172.16.0.0/12,192.168.0.0/16"

// adminToken is the admin X-Auth-Token of the started stack.
const adminToken = "pbxhooks-composecheck-admin-token"

func main() {
	keep := flag.Bool("keep", false, "leave the stack running (and dockerd, if started) for a look; `docker compose -p "+project+" down -v` removes it")
	timeout := flag.Duration("timeout", 60*time.Minute, "give up after this long")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if err := run(ctx, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "compose-check FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("compose-check passed")
}

func run(ctx context.Context, keep bool) (err error) {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "pbxhooks-composecheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// Teardown runs even when ctx was cancelled by a signal or the timeout.
	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	}

	step("docker engine")
	engine, err := startEngine(ctx, work)
	if err != nil {
		return err
	}
	if !keep {
		defer func() {
			c, cancel := cleanupCtx()
			defer cancel()
			if stopErr := engine.Stop(c); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}()
	}

	step("docker compose (pinned)")
	composeBin, err := buildCompose(ctx, root)
	if err != nil {
		return err
	}
	mediaKey, err := randomHex(32)
	if err != nil {
		return err
	}
	c := &composeStack{
		bin: composeBin, root: root, work: work,
		env: append(os.Environ(),
			"PBXHOOKS_ADMIN_TOKEN="+adminToken,
			"DELIVERY_ALLOW_CIDRS="+allowCIDRs,
			"MEDIA_LINK_KEYS=composecheck:"+mediaKey,
		),
	}
	proj, err := c.load(ctx)
	if err != nil {
		return err
	}

	step("images")
	if err := buildImages(ctx, root, work, proj); err != nil {
		return err
	}

	step("docker compose up")
	// A stack left by an interrupted run would hold the volumes' old data.
	if err := c.down(ctx); err != nil {
		return err
	}
	upErr := c.up(ctx)
	if !keep {
		defer func() {
			c2, cancel := cleanupCtx()
			defer cancel()
			step("docker compose down")
			if downErr := c.down(c2); downErr != nil {
				err = errors.Join(err, downErr)
			}
		}()
	}
	if upErr != nil {
		c.dumpLogs(ctx)
		return upErr
	}

	step("the README's curl flow")
	if err := runFlow(ctx, c); err != nil {
		c.dumpLogs(ctx)
		return err
	}
	if keep {
		fmt.Printf("left running: API %s, ingest %s (-keep)\n", c.apiURL, c.ingestURL)
	}
	return nil
}

func step(name string) {
	fmt.Printf("\n== %s (%s)\n", name, time.Now().Format(time.TimeOnly))
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// repoPath joins a slash-separated path to the repository root.
func repoPath(root, rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
