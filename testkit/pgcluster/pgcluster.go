// Package pgcluster runs a private PostgreSQL cluster from the PostgreSQL
// server binaries installed on the machine (Debian's postgresql package), so
// `make run` and the tests get a real database without a system service,
// Docker or a password.
//
// The cluster listens on TCP on Host (127.0.0.1 by default) with trust
// authentication for the superuser "postgres": it is for development and
// tests on one machine, never for production.
//
// PostgreSQL refuses to run as root. When the process is root, initdb and
// postgres run as the "postgres" system user (which the postgresql package
// creates), and the data directory is handed to that user.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role initdb creates; URL connects as it.
const Superuser = "postgres"

// ErrRunning is returned by Start when a live postmaster already serves the
// data directory.
var ErrRunning = errors.New("a postmaster is already running on this data directory")

// Options choose where the cluster lives and how it runs.
type Options struct {
	// DataDir holds the cluster; initdb runs when it has no PG_VERSION.
	DataDir string
	// Host is the only address listened on; default 127.0.0.1.
	Host string
	// Port to listen on; 0 picks a free port (a small race with other
	// programs picking ports is accepted).
	Port int
	// Log receives initdb's and the server's output; nil discards it. An
	// *os.File is handed to the child directly, so a Detached server keeps
	// logging to it after this process exits.
	Log io.Writer
	// NoSync skips fsync in initdb and in the server: much faster, and a
	// machine crash can corrupt the cluster. For tests only.
	NoSync bool
	// Detach starts the server in its own session so it outlives this
	// process (a cluster shared by several test processes). Otherwise the
	// server gets SIGINT (fast shutdown) when this process dies, so Ctrl-C
	// or a killed test never leaves an orphaned postgres.
	Detach bool
	// Settings are extra server settings, passed as -c name=value.
	Settings map[string]string
	// BinDir overrides where initdb and postgres are looked up.
	BinDir string
	// StartTimeout bounds the wait for the server to accept connections;
	// default one minute.
	StartTimeout time.Duration
}

// Cluster is a started server.
type Cluster struct {
	host    string
	port    int
	dataDir string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the postmaster has exited
	waitErr error         // the postmaster's exit status, set before exited closes
}

// Start initialises DataDir when needed, starts the server and waits until
// it accepts connections. It fails, saying why, when the binaries are
// missing, the port is taken, another postmaster serves DataDir (ErrRunning)
// or the server does not come up within StartTimeout.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pgcluster: DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: data directory: %w", err)
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = time.Minute
	}
	bin := opts.BinDir
	if bin == "" {
		if bin, err = BinDir(); err != nil {
			return nil, err
		}
	}
	owner, err := serverUser()
	if err != nil {
		return nil, err
	}
	// A taken port is checked before initdb so the mistake costs nothing.
	if opts.Port != 0 {
		if err := portFree(opts.Host, opts.Port); err != nil {
			return nil, err
		}
	}
	if err := prepareDataDir(dataDir, owner); err != nil {
		return nil, err
	}
	if err := removeStalePID(dataDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(ctx, bin, dataDir, owner, opts); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	port := opts.Port
	if port == 0 {
		if port, err = FreePort(opts.Host); err != nil {
			return nil, err
		}
	}

	c := &Cluster{host: opts.Host, port: port, dataDir: dataDir, exited: make(chan struct{})}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), serverArgs(dataDir, opts.Host, port, opts)...)
	c.cmd.Dir = dataDir
	c.cmd.Stdout, c.cmd.Stderr = opts.Log, opts.Log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner.credential()}
	if opts.Detach {
		c.cmd.SysProcAttr.Setsid = true
	} else {
		setParentDeathSignal(c.cmd.SysProcAttr)
	}
	if err := startLocked(c.cmd); err != nil {
		return nil, fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	if err := c.waitReady(ctx, opts.StartTimeout); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	return c, nil
}

// startLocked starts cmd on a thread locked to this goroutine. The parent
// death signal fires when the forking OS thread exits, not the process; the
// Go runtime only ends threads whose goroutine exits while locked, so
// starting on a thread we lock and then release keeps the signal tied to the
// process's lifetime in practice.
func startLocked(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Start()
}

// URL is the connection string of database db as the superuser.
func (c *Cluster) URL(db string) string {
	return URL(c.host, c.port, db)
}

// URL is the connection string of database db on a pgcluster server.
func URL(host string, port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// DataDir is the absolute path of the cluster's files.
func (c *Cluster) DataDir() string { return c.dataDir }

// Stop asks for a fast shutdown (SIGINT: clients are disconnected, a
// checkpoint is written) and waits for the server to exit. When ctx ends
// first the server is killed; its next start then runs crash recovery.
func (c *Cluster) Stop(ctx context.Context) error {
	select {
	case <-c.exited:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgcluster: signal postgres: %w", err)
	}
	select {
	case <-c.exited:
		return nil
	case <-ctx.Done():
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("pgcluster: fast shutdown did not finish, killed postgres: %w", ctx.Err())
	}
}

func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("pgcluster: postgres exited during start-up (%v); see its log", c.waitErr)
		default:
		}
		if lastErr = Ping(ctx, c.URL("postgres")); lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: postgres on port %d not ready after %s: %w", c.port, timeout, lastErr)
		case <-c.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Ping connects to u and pings, within at most a few seconds.
func Ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

func serverArgs(dataDir, host string, port int, opts Options) []string {
	args := []string{"-D", dataDir, "-h", host, "-p", strconv.Itoa(port), "-k", socketDir(dataDir, port)}
	settings := map[string]string{}
	if opts.NoSync {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+settings[k])
	}
	return args
}

// socketDir puts the Unix socket inside the data directory (for psql -h
// <dir>), never in the system server's /var/run/postgresql. A socket path is
// limited to about 107 bytes; when the data directory is too deep, the
// server listens on TCP only.
func socketDir(dataDir string, port int) string {
	if len(dataDir)+len("/.s.PGSQL.")+len(strconv.Itoa(port))+len(".lock") < 100 {
		return dataDir
	}
	return ""
}

func initdb(ctx context.Context, bin, dataDir string, owner *osUser, opts Options) error {
	args := []string{"-D", dataDir, "-A", "trust", "-U", Superuser, "-E", "UTF8", "--locale=C"}
	if opts.NoSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = dataDir
	var out strings.Builder
	var w io.Writer = &out
	if opts.Log != nil {
		w = io.MultiWriter(&out, opts.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner.credential()}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", dataDir, err, out.String())
	}
	return nil
}

// BinDir finds the PostgreSQL server binaries: `pg_config --bindir` when it
// names a directory holding postgres (Debian's pg_config may belong to the
// client package only), else the newest /usr/lib/postgresql/*/bin.
func BinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if isFile(filepath.Join(dir, "postgres")) && isFile(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	best, bestVersion := "", -1.0
	for _, m := range matches {
		dir := filepath.Dir(m)
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil || !isFile(filepath.Join(dir, "initdb")) {
			continue
		}
		if v > bestVersion {
			best, bestVersion = dir, v
		}
	}
	if best == "" {
		return "", errors.New("pgcluster: PostgreSQL server binaries not found (no postgres/initdb from pg_config --bindir or in /usr/lib/postgresql/*/bin); install them: apt-get install postgresql")
	}
	return best, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// FreePort asks the kernel for a free TCP port on host.
func FreePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(host string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("pgcluster: port %d on %s is taken (%w); stop what listens there or choose another port", port, host, err)
	}
	return l.Close()
}

// removeStalePID deletes a postmaster.pid left by a server that crashed or
// was killed, as pg_ctl would, and reports ErrRunning when its process is a
// live postgres.
func removeStalePID(dataDir string) error {
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	pid, err := PostmasterPID(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && processIsPostgres(pid) {
		return fmt.Errorf("pgcluster: %s: %w (pid %d)", dataDir, ErrRunning, pid)
	}
	// Unreadable, or naming a process that is gone or is not postgres (the
	// pid was reused after a reboot): the file is stale.
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: remove stale %s: %w", pidFile, err)
	}
	return nil
}

// PostmasterPID reads the pid recorded in DataDir/postmaster.pid; the error
// wraps os.ErrNotExist when there is no such file.
func PostmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pgcluster: malformed postmaster.pid in %s", dataDir)
	}
	return pid, nil
}

func processIsPostgres(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		// No /proc to ask: trust the live pid, as pg_ctl does.
		return true
	}
	// /proc/<pid>/stat is "pid (comm) state ..."; a zombie has exited.
	s := string(stat)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open || len(s) < closing+3 {
		return true
	}
	name, state := s[open+1:closing], s[closing+2]
	return (name == "postgres" || name == "postmaster") && state != 'Z'
}

// StopDataDir fast-stops the postmaster serving dataDir even when another
// process started it, and waits until it has exited or ctx ends. It is a
// no-op when none runs.
func StopDataDir(ctx context.Context, dataDir string) error {
	pid, err := PostmasterPID(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil || !processIsPostgres(pid) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("pgcluster: signal postmaster %d: %w", pid, err)
	}
	for processIsPostgres(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: postmaster %d still running: %w", pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
