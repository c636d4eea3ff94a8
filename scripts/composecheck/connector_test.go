package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"

	"github.com/pbxhooks/pbxhooks/pkg/config"
	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
)

// TestConnectorProfile checks the optional connector service: only with
// its profile, built from its Dockerfile target, its spool on a volume,
// and every variable it is given one the connector reads.
func TestConnectorProfile(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := stack.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithName("pbxhooks"), cli.WithEnv([]string{}), cli.WithProfiles([]string{"connector"}))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with the connector profile: %v", err)
	}
	svc, ok := project.Services["connector"]
	if !ok {
		t.Fatalf("no connector service in the connector profile: %v", project.ServiceNames())
	}
	if svc.Build == nil || svc.Build.Target != "connector" {
		t.Errorf("connector builds %+v, want the Dockerfile's connector target", svc.Build)
	}
	if len(svc.Volumes) != 1 || svc.Volumes[0].Target != "/var/lib/pbxhooks-connector" || svc.Environment["CONNECTOR_SPOOL_DIR"] == nil ||
		*svc.Environment["CONNECTOR_SPOOL_DIR"] != "/var/lib/pbxhooks-connector" {
		t.Errorf("the spool must be on a volume at CONNECTOR_SPOOL_DIR: %+v", svc.Volumes)
	}
	if svc.HealthCheck == nil || !svc.ReadOnly {
		t.Error("connector needs a health check and a read-only root filesystem")
	}
	known := config.Variables("connector")
	for name := range svc.Environment {
		if !slices.Contains(known, name) {
			t.Errorf("compose sets %s, which the connector does not read", name)
		}
	}
}
