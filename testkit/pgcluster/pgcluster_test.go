package pgcluster_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxhooks/pbxhooks/testkit/pgcluster"
)

// baseDir is a directory the server's user can enter even when the tests
// run as root (t.TempDir's parents are 0700 and owned by root). The server
// log is written there and shown when the test fails.
func baseDir(t *testing.T) (string, *os.File) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("server log:\n%s", b)
		}
		os.RemoveAll(dir)
	})
	return dir, log
}

func start(t *testing.T, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), u)
	if err != nil {
		t.Fatalf("connect %s: %v", u, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	base, log := baseDir(t)
	// The data directory's missing parents are created reachable.
	opts := pgcluster.Options{DataDir: filepath.Join(base, "new", "parent", "data"), Log: log, NoSync: true}

	first := start(t, opts)
	if !strings.HasPrefix(first.URL("postgres"), "postgres://postgres@127.0.0.1:"+strconv.Itoa(first.Port())+"/postgres") {
		t.Fatalf("URL = %s", first.URL("postgres"))
	}
	conn := connect(t, first.URL("postgres"))
	if _, err := conn.Exec(t.Context(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	conn.Close(t.Context())

	// A second server on the same files is refused while the first runs.
	_, err := pgcluster.Start(t.Context(), opts)
	if !errors.Is(err, pgcluster.ErrRunning) {
		t.Fatalf("second start on a running data dir: err = %v, want ErrRunning", err)
	}

	if err := first.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid after fast shutdown: %v", err)
	}

	second := start(t, opts)
	var v string
	if err := connect(t, second.URL("postgres")).QueryRow(t.Context(), "SELECT v FROM kept").Scan(&v); err != nil || v != "hello" {
		t.Fatalf("after restart: v=%q err=%v", v, err)
	}
}

func TestStartRemovesStalePIDFile(t *testing.T) {
	t.Parallel()
	base, log := baseDir(t)
	opts := pgcluster.Options{DataDir: filepath.Join(base, "data"), Log: log, NoSync: true}
	c := start(t, opts)
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// A crashed server leaves its pid file behind; give it the pid of a
	// process that has certainly exited.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	stale := strconv.Itoa(gone.Process.Pid) + "\n" + opts.DataDir + "\n0\n0\n\n127.0.0.1\n0 0\nready\n"
	if err := os.WriteFile(filepath.Join(opts.DataDir, "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	c = start(t, opts)
	if err := pgcluster.Ping(t.Context(), c.URL("postgres")); err != nil {
		t.Fatalf("ping after stale pid file: %v", err)
	}
}

func TestStartNamesTakenPort(t *testing.T) {
	t.Parallel()
	base, log := baseDir(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	_, err = pgcluster.Start(t.Context(), pgcluster.Options{DataDir: filepath.Join(base, "data"), Port: port, Log: log, NoSync: true})
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(port)) {
		t.Fatalf("start on a taken port: err = %v, want it to name port %d", err, port)
	}
}

func TestStopDataDirStopsAServerItDidNotStart(t *testing.T) {
	t.Parallel()
	base, log := baseDir(t)
	opts := pgcluster.Options{DataDir: filepath.Join(base, "data"), Log: log, NoSync: true, Detach: true}
	c := start(t, opts)
	if err := pgcluster.StopDataDir(t.Context(), opts.DataDir); err != nil {
		t.Fatalf("StopDataDir: %v", err)
	}
	if err := pgcluster.Ping(t.Context(), c.URL("postgres")); err == nil {
		t.Fatal("server still answers after StopDataDir")
	}
}

func TestStartInTestTempDir(t *testing.T) {
	t.Parallel()
	// t.TempDir's parent is 0700 and owned by whoever runs the test: fine
	// for a server running as that user, unreachable for the postgres user
	// the server becomes under root, which must be said plainly.
	dir := t.TempDir()
	c, err := pgcluster.Start(t.Context(), pgcluster.Options{DataDir: filepath.Join(dir, "data"), NoSync: true})
	if os.Geteuid() == 0 {
		if err == nil || !strings.Contains(err.Error(), "cannot enter "+filepath.Dir(dir)) {
			t.Fatalf("as root: err = %v, want it to name the unreachable %s", err, filepath.Dir(dir))
		}
		return
	}
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
