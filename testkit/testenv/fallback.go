package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/pbxhooks/pbxhooks/testkit/pgcluster"
)

// fallbackServers start a server when none runs, in the order tried.
var fallbackServers = []serverSource{
	{name: "docker", find: startContainer},
	{name: "private", find: startPrivateCluster},
}

// containerImage is the PostgreSQL image the Docker fallback runs.
const containerImage = "postgres:17-alpine"

// testMaxConnections leaves room for every package's parallel tests, each
// with a pool, sharing one server.
const testMaxConnections = "300"

func startContainer() (string, error) {
	if err := dockerAnswers(); err != nil {
		return "", fmt.Errorf("no Docker engine: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := tcpostgres.Run(ctx, containerImage,
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		tcpostgres.WithDatabase("postgres"),
		testcontainers.WithCmdArgs("-c", "max_connections="+testMaxConnections),
		tcpostgres.BasicWaitStrategies(),
	)
	if err != nil {
		return "", fmt.Errorf("start %s container: %w", containerImage, err)
	}
	u, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return "", fmt.Errorf("container connection string: %w", err)
	}
	return u, nil
}

// dockerAnswers pings the Docker engine's API within about a second, so a
// machine without Docker moves on to the next fallback at once instead of
// waiting on testcontainers' own discovery and retries.
func dockerAnswers() error {
	network, addr, err := dockerEndpoint()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var d net.Dialer
	if network == "tcp" {
		// A TCP engine may want TLS; answering the dial is enough here and
		// testcontainers does the handshake.
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, network, addr) },
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/_ping", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /_ping answered %s", addr, resp.Status)
	}
	return nil
}

// dockerEndpoint follows DOCKER_HOST, else the usual socket locations.
func dockerEndpoint() (network, addr string, err error) {
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		switch {
		case strings.HasPrefix(host, "unix://"):
			return "unix", strings.TrimPrefix(host, "unix://"), nil
		case strings.HasPrefix(host, "tcp://"):
			return "tcp", strings.TrimPrefix(host, "tcp://"), nil
		default:
			return "", "", fmt.Errorf("DOCKER_HOST %q is neither unix:// nor tcp://", host)
		}
	}
	candidates := []string{"/var/run/docker.sock"}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, "docker.sock"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".docker", "run", "docker.sock"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return "unix", c, nil
		}
	}
	return "", "", fmt.Errorf("DOCKER_HOST is unset and there is no socket at %s", strings.Join(candidates, ", "))
}

// privateClusterDir is where the shared private cluster lives: per user, so
// two users of one machine do not share (or fight over) a server.
func privateClusterDir() string {
	return filepath.Join(os.TempDir(), "pbxhooks-testpg-"+strconv.Itoa(os.Getuid()))
}

// startPrivateCluster returns the shared private cluster, starting it when
// no process of this or an earlier test run left one answering. See the
// package doc for why it is left running.
func startPrivateCluster() (string, error) {
	dir := privateClusterDir()
	if err := ownDir(dir); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Errorf("private cluster lock: %w", err)
	}
	defer lock.Close()
	// Several test binaries get here at once; one starts the server while
	// the others wait, then find it answering. The lock is released when
	// the file is closed, also if this process dies.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	portFile := filepath.Join(dir, "port")
	if b, err := os.ReadFile(portFile); err == nil {
		if port, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			u := pgcluster.URL("127.0.0.1", port, "postgres")
			if ping(u) == nil {
				return u, nil
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dataDir := filepath.Join(dir, "data")
	// A server may be alive but not answering on the recorded port (wedged,
	// or the port file lost): stop it so this one can take its files.
	if err := pgcluster.StopDataDir(ctx, dataDir); err != nil {
		return "", fmt.Errorf("stop the unresponsive private cluster: %w", err)
	}
	u, err := startSharedCluster(ctx, dir, dataDir)
	if err != nil && dataExists(dataDir) {
		// The files hold nothing but disposable test databases; a cluster
		// that will not start (a crash with fsync off, an older PostgreSQL
		// major version) is recreated rather than repaired.
		if rmErr := os.RemoveAll(dataDir); rmErr != nil {
			return "", fmt.Errorf("%w; and removing it failed: %v", err, rmErr)
		}
		u, err = startSharedCluster(ctx, dir, dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("private cluster in %s (log: %s): %w", dir, filepath.Join(dir, "server.log"), err)
	}
	return u, nil
}

func startSharedCluster(ctx context.Context, dir, dataDir string) (string, error) {
	log, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "", err
	}
	// The server writes to its own copy of the descriptor.
	defer log.Close()
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		DataDir:  dataDir,
		Log:      log,
		NoSync:   true,
		Detach:   true,
		Settings: map[string]string{"max_connections": testMaxConnections},
	})
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, "port"), []byte(strconv.Itoa(c.Port())+"\n")); err != nil {
		_ = c.Stop(ctx)
		return "", fmt.Errorf("record port: %w", err)
	}
	u := c.URL("postgres")
	dropLeftoverDatabases(ctx, u)
	return u, nil
}

// dropLeftoverDatabases removes test databases of killed test processes.
// It runs only on a server just started, which no other test uses yet.
func dropLeftoverDatabases(ctx context.Context, adminURL string) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'pbxhooks\\_test\\_%'")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}

// ownDir creates dir, refusing one that another user made: it lives in a
// shared temporary directory. It is 0755 so that, under root, the postgres
// user can reach the data directory inside.
func ownDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("private cluster directory: %w", err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("private cluster directory: %w", err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !st.IsDir() || (ok && int(sys.Uid) != os.Getuid()) {
		return fmt.Errorf("private cluster directory %s is not a directory owned by uid %d; remove it", dir, os.Getuid())
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("private cluster directory: %w", err)
	}
	return nil
}

func dataExists(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	return !errors.Is(err, os.ErrNotExist)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
