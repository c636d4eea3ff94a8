package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedFixture returns the contents of a file under the shared fixtures
// folder that sits beside the repository (<repo>/../shared/fixtures, as CI
// lays it out), the repository root being the folder holding go.work above
// the test's working directory. A missing file fails the test: the
// fixtures are part of what is tested, never a reason to skip.
func SharedFixture(t testing.TB, rel ...string) []byte {
	t.Helper()
	path := SharedFixturePath(t, rel...)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("shared fixture %s: %v (the repository expects ../shared beside its root, as CI lays it out)", path, err)
	}
	return b
}

// SharedFixturePath is SharedFixture's path, without reading the file.
func SharedFixturePath(t testing.TB, rel ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("shared fixture: no go.work above the test's working directory, so the repository root (and ../shared beside it) is unknown")
		}
		dir = parent
	}
	shared := filepath.Join(filepath.Dir(dir), "shared")
	if _, err := os.Stat(shared); err != nil {
		t.Fatalf("shared fixtures: %s is missing; CI places a copy of shared/ beside the repository: %v", shared, err)
	}
	return filepath.Join(append([]string{shared, "fixtures"}, rel...)...)
}
