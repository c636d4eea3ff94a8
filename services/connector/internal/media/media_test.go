package media

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOnlyFilesUnderTheRoot(t *testing.T) {
	t.Parallel()
	u := &Uploader{Root: "/srv/fsrun"}
	for p, ok := range map[string]bool{
		"/srv/fsrun/rec/a.wav":         true,
		"/srv/fsrun/../etc/passwd":     false,
		"/srv/fsrunner/a.wav":          false,
		"rec/a.wav":                    false,
		"/srv/fsrun":                   false,
		"/srv/fsrun/rec/../../x/a.wav": false,
		"/srv/fsrun/rec/./b/../a.wav":  true,
	} {
		if _, err := u.relative(p); (err == nil) != ok {
			t.Errorf("%s: %v, want under the root: %v", p, err, ok)
		}
	}
}

func TestSymlinkOutOfTheRootIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.wav")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.wav")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	u := &Uploader{Root: "/srv/fsrun", Dir: root, URL: "http://127.0.0.1:1", AccountID: "a"}
	err = u.upload(t.Context(), Job{Type: "call_recording", CallID: "c", Path: "/srv/fsrun/link.wav"})
	if err == nil {
		t.Fatal("uploaded a file through a symlink out of the root")
	}
	if _, err := root.Open("link.wav"); err == nil {
		t.Fatal("os.Root followed a symlink out of the root")
	}
}
