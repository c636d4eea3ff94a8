package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// osUser is who initdb and postgres run as; nil means this process's user.
type osUser struct {
	name     string
	uid, gid uint32
}

// serverUser is nil unless this process is root, which PostgreSQL refuses
// to run as; then it is the postgres system user.
func serverUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(Superuser)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: this process is root, PostgreSQL refuses to run as root, and there is no %q system user to run it as (%v); create it with: useradd --system postgres", Superuser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgcluster: user %s: %w", Superuser, err)
	}
	return &osUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// credential drops root's supplementary groups too (empty Groups).
func (u *osUser) credential() *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
}

// prepareDataDir creates dataDir with the mode PostgreSQL demands and, when
// the server runs as another user, gives that user every file in it and
// checks that the user can reach it at all.
func prepareDataDir(dataDir string, owner *osUser) error {
	// Parents made here are 0755 so that the server's user can reach the
	// data directory; only the data directory itself is private.
	if err := os.MkdirAll(filepath.Dir(dataDir), 0o755); err != nil {
		return fmt.Errorf("pgcluster: create data directory: %w", err)
	}
	if err := os.Mkdir(dataDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pgcluster: create data directory: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: data directory mode: %w", err)
	}
	if owner == nil {
		return nil
	}
	err := filepath.WalkDir(dataDir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == owner.uid && sys.Gid == owner.gid {
			return nil
		}
		return os.Lchown(p, int(owner.uid), int(owner.gid))
	})
	if err != nil {
		return fmt.Errorf("pgcluster: give %s to user %s: %w", dataDir, owner.name, err)
	}
	return checkReachable(filepath.Dir(dataDir), owner)
}

// checkReachable fails when some directory above the data directory denies
// the server's user search permission (t.TempDir's 0700 parents, /root),
// which postgres would otherwise report obscurely.
func checkReachable(dir string, owner *osUser) error {
	for {
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		mode := st.Mode().Perm()
		ok := mode&0o001 != 0
		if sys, isUnix := st.Sys().(*syscall.Stat_t); isUnix {
			ok = ok || (sys.Uid == owner.uid && mode&0o100 != 0) || (sys.Gid == owner.gid && mode&0o010 != 0)
		}
		if !ok {
			return fmt.Errorf("pgcluster: the server runs as user %s, who cannot enter %s (mode %o); put the data directory where that user can reach it, e.g. under a 0755 directory in %s", owner.name, dir, mode, os.TempDir())
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}
