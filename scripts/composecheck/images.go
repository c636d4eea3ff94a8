package main

import (
	"bufio"
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Stand-ins: what a registry would give, made from what this machine has.
// A Debian root filesystem from debootstrap (Debian's mirror is reachable
// where no image registry is) is the base of all of them.
const (
	// standinLabel marks the images this check made, so an image of the same
	// name that a user pulled is used as it is and never replaced.
	standinLabel = "org.pbxhooks.composecheck.standin"
	debianSuite  = "trixie" // has PostgreSQL 17, the major the compose file names
	debianImage  = "pbxhooks-standin/debian:" + debianSuite
	// debianPath is the PATH the imported root filesystem runs with.
	debianPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// hostCABundle is where Debian keeps the CA certificates it trusts.
	hostCABundle = "/etc/ssl/certs/ca-certificates.crt"
)

//go:embed standin
var standinFiles embed.FS

// buildImages makes every image docker-compose.yml names: stand-ins for the
// registry's images that are not here, and the services from
// deployments/Dockerfile with their base images as build arguments.
func buildImages(ctx context.Context, root, work string, proj *types.Project) error {
	b := &imageBuilder{root: root, work: work}
	goImage, err := dockerfileArg(root, "GO_IMAGE")
	if err != nil {
		return err
	}
	runtimeImage, err := dockerfileArg(root, "RUNTIME_IMAGE")
	if err != nil {
		return err
	}
	pgMajor, err := postgresMajor(proj.Services["postgres"].Image)
	if err != nil {
		return err
	}
	b.pgMajor = pgMajor

	if state, err := imageState(ctx, goImage); err != nil {
		return err
	} else if state != imageReal {
		if goImage, err = b.golang(ctx); err != nil {
			return err
		}
	}
	if state, err := imageState(ctx, runtimeImage); err != nil {
		return err
	} else if state != imageReal {
		if err := b.debian(ctx); err != nil {
			return err
		}
		runtimeImage = debianImage // it has wget, all the runtime stage needs
	}
	fmt.Printf("service images build FROM %s and %s\n", goImage, runtimeImage)

	for _, svc := range []struct {
		name  string
		build func(context.Context, string) error
	}{{"nats", b.nats}, {"postgres", b.postgres}} {
		image := proj.Services[svc.name].Image
		state, err := imageState(ctx, image)
		if err != nil {
			return err
		}
		if state == imageReal {
			fmt.Printf("%s: using the image %s already here\n", svc.name, image)
			continue
		}
		if err := replaceImage(ctx, image, func() error { return svc.build(ctx, image) }); err != nil {
			return fmt.Errorf("stand-in for %s: %w", image, err)
		}
	}

	// The build stage first, tagged, so that the image it replaces (a
	// compile of older sources, gigabytes with its module cache) can be
	// removed instead of piling up untagged run after run.
	services := []serviceImage{{image: buildStageImage, target: "build"}}
	seen := map[string]bool{}
	for _, name := range proj.ServiceNames() {
		s := proj.Services[name]
		if s.Build == nil || seen[s.Image] { // migrate and api share pbxhooks/api
			continue
		}
		seen[s.Image] = true
		services = append(services, serviceImage{image: s.Image, target: s.Build.Target})
	}
	for _, s := range services {
		fmt.Printf("building %s (target %s of deployments/Dockerfile)\n", s.image, s.target)
		err := replaceImage(ctx, s.image, func() error {
			return runCmd(ctx, cmdOpts{dir: root, quiet: true}, "docker", "build",
				"--file", repoPath(root, "deployments/Dockerfile"), "--target", s.target,
				"--build-arg", "GO_IMAGE="+goImage, "--build-arg", "RUNTIME_IMAGE="+runtimeImage,
				"--tag", s.image, ".")
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// buildStageImage names the Dockerfile's build stage: the compiled services.
const buildStageImage = "pbxhooks-composecheck/build:latest"

type serviceImage struct{ image, target string }

// replaceImage runs build, which tags image anew, and then removes the image
// the tag named before, if it changed and nothing uses it: only what this
// check made goes, never an untagged image of someone else's.
func replaceImage(ctx context.Context, image string, build func() error) error {
	old, _ := output(ctx, cmdOpts{}, "docker", "image", "inspect", "--format", "{{.Id}}", image)
	if err := build(); err != nil {
		return err
	}
	if now, err := output(ctx, cmdOpts{}, "docker", "image", "inspect", "--format", "{{.Id}}", image); err == nil && old != "" && now != old {
		// Fails harmlessly while a container still uses it.
		_ = exec.CommandContext(ctx, "docker", "image", "rm", old).Run()
	}
	return nil
}

type imageBuilder struct {
	root, work string
	pgMajor    string
	haveDebian bool
}

// debian imports a minimal Debian with wget, CA certificates and the
// PostgreSQL server, once per machine.
func (b *imageBuilder) debian(ctx context.Context) error {
	if b.haveDebian {
		return nil
	}
	if state, err := imageState(ctx, debianImage); err != nil {
		return err
	} else if state == imageStandin {
		b.haveDebian = true
		return nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		if err := aptInstall(ctx, "debootstrap"); err != nil {
			return err
		}
	}
	rootfs := filepath.Join(b.work, "rootfs")
	mirror := cmp.Or(os.Getenv("DEBIAN_MIRROR"), "http://deb.debian.org/debian")
	fmt.Printf("debootstrap %s from %s (a few minutes, once per machine)\n", debianSuite, mirror)
	if err := runCmd(ctx, cmdOpts{quiet: true}, "debootstrap", "--variant=minbase",
		"--include=ca-certificates,wget,postgresql-"+b.pgMajor, debianSuite, rootfs, mirror); err != nil {
		return err
	}
	// The package's default cluster and apt's caches are dead weight here.
	for _, p := range []string{"var/lib/postgresql/" + b.pgMajor, "etc/postgresql/" + b.pgMajor, "var/cache/apt", "var/lib/apt/lists"} {
		if err := os.RemoveAll(filepath.Join(rootfs, p)); err != nil {
			return err
		}
	}
	// The stand-ins trust what this machine trusts: where TLS to the Go
	// module proxy passes a re-signing proxy, the builds inside need its CA.
	if err := copyFile(hostCABundle, filepath.Join(rootfs, hostCABundle)); err != nil {
		return fmt.Errorf("give the stand-ins this machine's CA certificates: %w", err)
	}
	tar := exec.CommandContext(ctx, "tar", "--numeric-owner", "-C", rootfs, "-c", ".")
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	tar.Stderr = os.Stderr
	if err := tar.Start(); err != nil {
		return fmt.Errorf("tar %s: %w", rootfs, err)
	}
	importErr := runCmd(ctx, cmdOpts{stdin: pipe, quiet: true}, "docker", "import",
		"--change", "ENV PATH="+debianPath, "--change", "LABEL "+standinLabel+"=true",
		"--change", `CMD ["/bin/bash"]`, "-", debianImage)
	if err := errors.Join(importErr, tar.Wait()); err != nil {
		return err
	}
	if err := os.RemoveAll(rootfs); err != nil {
		return err
	}
	fmt.Println("imported", debianImage)
	b.haveDebian = true
	return nil
}

// golang is the Debian stand-in plus this machine's Go toolchain.
func (b *imageBuilder) golang(ctx context.Context) (string, error) {
	goroot, err := output(ctx, cmdOpts{}, "go", "env", "GOROOT")
	if err != nil {
		return "", err
	}
	version, err := output(ctx, cmdOpts{}, "go", "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	image := "pbxhooks-standin/golang:" + strings.TrimPrefix(version, "go")
	if state, err := imageState(ctx, image); err != nil || state == imageStandin {
		return image, err
	}
	if err := b.debian(ctx); err != nil {
		return "", err
	}
	dir, err := b.context("golang.Dockerfile")
	if err != nil {
		return "", err
	}
	fmt.Printf("building %s from %s\n", image, goroot)
	return image, b.build(ctx, image, filepath.Join(dir, "golang.Dockerfile"), goroot)
}

// nats is the nats-server the Go modules pin (the one the tests run).
func (b *imageBuilder) nats(ctx context.Context, image string) error {
	if err := b.debian(ctx); err != nil {
		return err
	}
	dir, err := b.context("nats.Dockerfile", "nats-entrypoint.sh")
	if err != nil {
		return err
	}
	const module = "github.com/nats-io/nats-server/v2"
	version, err := output(ctx, cmdOpts{dir: b.root}, "go", "list", "-m", "-f", "{{.Version}}", module)
	if err != nil {
		return err
	}
	if err := runCmd(ctx, cmdOpts{dir: b.root, env: append(os.Environ(), "CGO_ENABLED=0")},
		"go", "build", "-trimpath", "-o", filepath.Join(dir, "nats-server"), module); err != nil {
		return err
	}
	fmt.Printf("building %s from nats-server %s\n", image, version)
	return b.build(ctx, image, filepath.Join(dir, "nats.Dockerfile"), dir)
}

// postgres is Debian's PostgreSQL of the major the compose file names.
func (b *imageBuilder) postgres(ctx context.Context, image string) error {
	if err := b.debian(ctx); err != nil {
		return err
	}
	dir, err := b.context("postgres.Dockerfile", "postgres-entrypoint.sh")
	if err != nil {
		return err
	}
	fmt.Printf("building %s from Debian's postgresql-%s\n", image, b.pgMajor)
	return b.build(ctx, image, filepath.Join(dir, "postgres.Dockerfile"), dir, "--build-arg", "PG_MAJOR="+b.pgMajor)
}

func (b *imageBuilder) build(ctx context.Context, image, dockerfile, contextDir string, extra ...string) error {
	args := append([]string{"build", "--file", dockerfile, "--build-arg", "BASE=" + debianImage,
		"--label", standinLabel + "=true", "--tag", image}, extra...)
	return runCmd(ctx, cmdOpts{quiet: true}, "docker", append(args, contextDir)...)
}

// context writes the named stand-in files into a fresh build context.
func (b *imageBuilder) context(names ...string) (string, error) {
	dir, err := os.MkdirTemp(b.work, "context-")
	if err != nil {
		return "", err
	}
	for _, name := range names {
		raw, err := fs.ReadFile(standinFiles, "standin/"+name)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o755); err != nil {
			return "", err
		}
	}
	return dir, nil
}

type imageKind int

const (
	imageAbsent  imageKind = iota
	imageStandin           // made by this check
	imageReal              // here, and not made by this check: a pulled image
)

func imageState(ctx context.Context, image string) (imageKind, error) {
	cmd := exec.CommandContext(ctx, "docker", "image", "inspect", "--format",
		fmt.Sprintf("{{index .Config.Labels %q}}", standinLabel), image)
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return imageAbsent, nil
	case err != nil:
		return imageAbsent, fmt.Errorf("docker image inspect %s: %w", image, err)
	case strings.TrimSpace(string(out)) == "true":
		return imageStandin, nil
	default:
		return imageReal, nil
	}
}

// dockerfileArg is the default of a global ARG of deployments/Dockerfile,
// so the base images are named in one place.
func dockerfileArg(root, name string) (string, error) {
	f, err := os.Open(repoPath(root, "deployments/Dockerfile"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ARG "+name+"="); ok {
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("deployments/Dockerfile has no `ARG %s=<default>`", name)
}

var postgresTag = regexp.MustCompile(`^postgres:(\d+)(?:[.-]|$)`)

// postgresMajor is the PostgreSQL major version an image name like
// postgres:17-alpine asks for.
func postgresMajor(image string) (string, error) {
	m := postgresTag.FindStringSubmatch(image)
	if m == nil {
		return "", fmt.Errorf("postgres service image %q: want postgres:<major>[-variant]", image)
	}
	return m[1], nil
}

func copyFile(from, to string) error {
	raw, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, raw, 0o644)
}
