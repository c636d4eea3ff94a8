package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/medialink"
)

// TestMediaLinkKeysAreGeneratedOnceAndKept: the first start makes a random
// key readable by its owner only; later starts use the same key, so links
// already sent keep working. Not parallel: it sets MEDIA_LINK_KEYS.
func TestMediaLinkKeysAreGeneratedOnceAndKept(t *testing.T) {
	t.Setenv("MEDIA_LINK_KEYS", "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	first, err := mediaLinkKeys(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := medialink.ParseKeys(first); err != nil || len(keys) != 1 {
		t.Fatalf("generated %q: %v", first, err)
	}
	info, err := os.Stat(filepath.Join(dir, mediaLinkKeysFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, info.Mode())
	}
	again, err := mediaLinkKeys(dir, log)
	if err != nil || again != first {
		t.Fatalf("second start: %q, %v; want the kept key", again, err)
	}
	if other, _ := mediaLinkKeys(t.TempDir(), log); other == first {
		t.Fatal("two data directories got the same key")
	}

	t.Setenv("MEDIA_LINK_KEYS", "mine:"+strings.Repeat("m", 32))
	if got, err := mediaLinkKeys(dir, log); err != nil || got != "mine:"+strings.Repeat("m", 32) {
		t.Fatalf("with MEDIA_LINK_KEYS set: %q, %v; want the caller's", got, err)
	}

	t.Setenv("MEDIA_LINK_KEYS", "")
	if err := os.WriteFile(filepath.Join(dir, mediaLinkKeysFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mediaLinkKeys(dir, log); err == nil || !strings.Contains(err.Error(), mediaLinkKeysFile) {
		t.Fatalf("corrupt key file: %v; want an error naming the file", err)
	}
}
