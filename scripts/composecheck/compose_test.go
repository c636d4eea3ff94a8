// These tests verify docker-compose.yml without a Docker engine: they load
// the file with compose-go, the library Docker Compose itself uses, and check
// that it describes the same topology as `make run`. `make compose-check`
// (this package's main) starts it for real.
package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/pbxhooks/pbxhooks/pkg/medialink"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
)

func loadProject(t *testing.T) (*types.Project, string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithName("pbxhooks"), cli.WithEnv([]string{}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	return project, root
}

func TestComposeDescribesThePipeline(t *testing.T) {
	project, root := loadProject(t)

	want := []string{"nats", "postgres", "migrate", "api", "ingest", "matcher", "deliverer"}
	got := project.ServiceNames()
	slices.Sort(got)
	wantSorted := slices.Clone(want)
	slices.Sort(wantSorted)
	if !slices.Equal(got, wantSorted) {
		t.Fatalf("services %v, want %v", got, wantSorted)
	}

	nats := project.Services["nats"]
	if !slices.Contains(nats.Command, "-js") {
		t.Errorf("nats must run with JetStream (-js), command %v", nats.Command)
	}
	for _, svc := range []string{"nats", "postgres"} {
		if len(project.Services[svc].Volumes) == 0 {
			t.Errorf("%s keeps its data in a volume", svc)
		}
		if project.Services[svc].HealthCheck == nil {
			t.Errorf("%s needs a health check", svc)
		}
	}

	migrate := project.Services["migrate"]
	if !slices.Equal(migrate.Command, types.ShellCommand{"migrate"}) {
		t.Errorf("migrate runs `api migrate`, command %v", migrate.Command)
	}
	if dep, ok := migrate.DependsOn["postgres"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate waits for a healthy postgres: %+v", migrate.DependsOn)
	}

	ports := map[string]string{"api": "8080", "ingest": "8081", "matcher": "8082", "deliverer": "8083"}
	for _, svc := range []string{"api", "ingest", "matcher", "deliverer"} {
		s := project.Services[svc]
		if !strings.HasPrefix(s.Image, "pbxhooks/"+svc+":") {
			t.Errorf("%s image %q", svc, s.Image)
		}
		if s.HealthCheck == nil || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), ":"+ports[svc]+"/readyz") {
			t.Errorf("%s health check must probe /readyz on %s: %+v", svc, ports[svc], s.HealthCheck)
		}
		if dep := s.DependsOn["migrate"]; dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s must wait for the migrate job to succeed: %+v", svc, s.DependsOn)
		}
		if dep := s.DependsOn["nats"]; dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s must wait for a healthy nats: %+v", svc, s.DependsOn)
		}
		for _, key := range []string{"NATS_URL", "DATABASE_URL", "PBXHOOKS_ADMIN_TOKEN"} {
			if v := s.Environment[key]; v == nil || *v == "" {
				t.Errorf("%s lacks %s", svc, key)
			}
		}
		if !s.ReadOnly {
			t.Errorf("%s must run on a read-only root filesystem (read_only: true)", svc)
		}
		build := s.Build
		if svc == "api" {
			build = migrate.Build // api reuses the image the migrate job builds
		}
		if build == nil || build.Target != svc {
			t.Errorf("%s must be built from the %s target: %+v", svc, svc, build)
		} else if filepath.Clean(filepath.Join(build.Context, build.Dockerfile)) != filepath.Join(root, "deployments", "Dockerfile") {
			t.Errorf("%s builds from %s, want deployments/Dockerfile", svc, filepath.Join(build.Context, build.Dockerfile))
		}
	}

	if !migrate.ReadOnly {
		t.Error("migrate must run on a read-only root filesystem (read_only: true)")
	}
	// The api refuses hook URLs the deliverer would refuse: both need the value.
	for _, svc := range []string{"api", "deliverer"} {
		if _, ok := project.Services[svc].Environment["DELIVERY_ALLOW_CIDRS"]; !ok {
			t.Errorf("%s lacks DELIVERY_ALLOW_CIDRS", svc)
		}
	}

	published := map[string]bool{}
	for _, svc := range []string{"api", "ingest", "nats"} {
		for _, p := range project.Services[svc].Ports {
			published[svc+":"+p.Published] = true
			if p.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s on %q; bind to 127.0.0.1", svc, p.Published, p.HostIP)
			}
		}
	}
	for _, want := range []string{"api:8080", "ingest:8081", "nats:4222"} {
		if !published[want] {
			t.Errorf("port %s not published (have %v)", want, published)
		}
	}
}

func TestDockerfileHasATargetPerServiceAndRunsAsNonRoot(t *testing.T) {
	_, root := loadProject(t)
	raw, err := os.ReadFile(filepath.Join(root, "deployments", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, svc := range []string{"api", "ingest", "matcher", "deliverer"} {
		if !strings.Contains(text, " AS "+svc+"\n") {
			t.Errorf("Dockerfile has no %s target", svc)
		}
	}
	if !strings.Contains(text, "CGO_ENABLED=0") {
		t.Error("binaries must be static (CGO_ENABLED=0)")
	}
	if !strings.Contains(text, "\nUSER 10001") {
		t.Error("runtime images must run as a non-root user")
	}
}

// The compose file's NATS is the minor version the tests run: the one
// testkit/go.mod pins (and `make compose-check` builds its stand-in from).
func TestComposeRunsThePinnedNATS(t *testing.T) {
	project, root := loadProject(t)
	raw, err := os.ReadFile(filepath.Join(root, "testkit", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := regexp.MustCompile(`(?m)^\s*github\.com/nats-io/nats-server/v2 v(\d+\.\d+)\.`).FindSubmatch(raw)
	if pinned == nil {
		t.Fatal("testkit/go.mod does not require github.com/nats-io/nats-server/v2")
	}
	image := project.Services["nats"].Image
	if want := "nats:" + string(pinned[1]) + "-"; !strings.HasPrefix(image, want) {
		t.Errorf("nats image %q, want %s<variant> as testkit/go.mod pins nats-server v%s", image, want, pinned[1])
	}
}

func TestDockerfileBaseImagesAreBuildArguments(t *testing.T) {
	_, root := loadProject(t)
	for _, arg := range []string{"GO_IMAGE", "RUNTIME_IMAGE"} {
		image, err := dockerfileArg(root, arg)
		if err != nil {
			t.Fatal(err)
		}
		if image == "" || strings.Contains(image, "standin") {
			t.Errorf("ARG %s=%q: the default must be the registry image a user pulls", arg, image)
		}
	}
	text, err := os.ReadFile(filepath.Join(root, "deployments", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{"FROM ${GO_IMAGE} AS build", "FROM ${RUNTIME_IMAGE} AS runtime"} {
		if !strings.Contains(string(text), from) {
			t.Errorf("Dockerfile lacks %q", from)
		}
	}
}

func TestPostgresMajor(t *testing.T) {
	for image, want := range map[string]string{"postgres:17-alpine": "17", "postgres:17": "17", "postgres:16.4-bookworm": "16"} {
		if got, err := postgresMajor(image); err != nil || got != want {
			t.Errorf("postgresMajor(%q) = %q, %v; want %q", image, got, err, want)
		}
	}
	for _, image := range []string{"postgres:latest", "mysql:8", "postgres"} {
		if got, err := postgresMajor(image); err == nil {
			t.Errorf("postgresMajor(%q) = %q, want an error", image, got)
		}
	}
}

// TestComposeHasNoUsableDefaultMediaLinkKey: matcher and api get the same
// MEDIA_LINK_KEYS, and what compose supplies when the user sets none is
// refused by the services, so nobody runs on a key printed in this file.
func TestComposeHasNoUsableDefaultMediaLinkKey(t *testing.T) {
	project, _ := loadProject(t)
	matcher, api := project.Services["matcher"].Environment["MEDIA_LINK_KEYS"], project.Services["api"].Environment["MEDIA_LINK_KEYS"]
	if matcher == nil || api == nil || *matcher != *api {
		t.Fatalf("matcher and api must share MEDIA_LINK_KEYS: %v, %v", matcher, api)
	}
	if _, err := medialink.ParseKeys(*matcher); err == nil {
		t.Fatalf("the default MEDIA_LINK_KEYS %q is a usable key: anyone could forge media links", *matcher)
	}
}

// The build stage downloads the workspace's modules before it copies the
// sources, so it must copy the go.mod of every module go.work uses: one
// missing fails every image build, and only `make compose-check` would say so.
func TestDockerfileCopiesEveryWorkspaceModule(t *testing.T) {
	_, root := loadProject(t)
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "deployments", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if missing := uncopiedModules(t, work, dockerfile); len(missing) > 0 {
		t.Errorf("Dockerfile lacks `COPY <dir>/go.mod <dir>/go.sum <dir>/` for go.work's modules %v", missing)
	}
	// The same check sees a line taken out.
	commented := regexp.MustCompile(`(?m)^COPY pkg/go.mod`).ReplaceAll(dockerfile, []byte("# COPY pkg/go.mod"))
	if missing := uncopiedModules(t, work, commented); !slices.Equal(missing, []string{"pkg"}) {
		t.Errorf("with pkg's COPY commented out, missing = %v, want [pkg]", missing)
	}
}

func uncopiedModules(t *testing.T, work, dockerfile []byte) []string {
	t.Helper()
	modules := regexp.MustCompile(`(?m)^\s*\./(\S+)\s*$`).FindAllSubmatch(work, -1)
	if len(modules) < 2 {
		t.Fatalf("found %d modules in go.work", len(modules))
	}
	var missing []string
	for _, m := range modules {
		dir := regexp.QuoteMeta(string(m[1]))
		if !regexp.MustCompile(`(?m)^COPY ` + dir + `/go\.mod ` + dir + `/go\.sum ` + dir + `/$`).Match(dockerfile) {
			missing = append(missing, string(m[1]))
		}
	}
	return missing
}
