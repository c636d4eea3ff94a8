package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/pkg/store"
)

// localPostgresURL is the server these machines may already run. It is only
// tried, never required.
const localPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	serverOnce sync.Once
	serverURL  string // admin URL of the server tests use
	serverErr  error
)

// PostgresURL returns the URL of a fresh database, cloned from a template
// that has every migration applied, and dropped when the test ends.
//
// The server is found once per test process; see the package doc for the
// order in which servers are tried and PBXHOOKS_TEST_PG to force one.
func PostgresURL(t testing.TB) string {
	t.Helper()
	serverOnce.Do(func() { serverURL, serverErr = findServer() })
	if serverErr != nil {
		t.Fatalf("no PostgreSQL for tests: %v\nInstall the PostgreSQL server (apt-get install postgresql) or set TEST_DATABASE_URL.", serverErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	template, err := ensureTemplate(ctx, serverURL)
	if err != nil {
		t.Fatalf("prepare template database: %v", err)
	}
	name := "pbxhooks_test_" + randomHex(8)
	if err := createFromTemplate(ctx, serverURL, name, template); err != nil {
		t.Fatalf("clone test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := execAdmin(ctx, serverURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(serverURL, name)
}

// Postgres returns a pool on a fresh migrated database, closed at test end.
func Postgres(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	dsn := PostgresURL(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect to test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return dsn, pool
}

// ForceServerEnv names the variable that forces one PostgreSQL source for
// tests: "local" (127.0.0.1:5432), "docker" (testcontainers-go) or
// "private" (a cluster started from the installed binaries). It exists so
// each fallback can be exercised on a machine where an earlier one works.
const ForceServerEnv = "PBXHOOKS_TEST_PG"

// serverSource is one way of getting a PostgreSQL server; find returns the
// admin URL of its "postgres" database.
type serverSource struct {
	name string // the PBXHOOKS_TEST_PG value that forces it
	find func() (string, error)
}

func findServer() (string, error) {
	force := os.Getenv(ForceServerEnv)
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" && force == "" {
		if err := ping(u); err != nil {
			return "", fmt.Errorf("TEST_DATABASE_URL does not answer: %w", err)
		}
		return u, nil
	}
	sources := append([]serverSource{{name: "local", find: findLocal}}, fallbackServers...)
	var tried, names []string
	for _, s := range sources {
		names = append(names, s.name)
		if force != "" && s.name != force {
			continue
		}
		u, err := s.find()
		if err == nil {
			return u, nil
		}
		tried = append(tried, s.name+": "+err.Error())
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("%s=%q: want one of %s", ForceServerEnv, force, strings.Join(names, ", "))
	}
	return "", errors.New(strings.Join(tried, "; "))
}

func findLocal() (string, error) {
	if err := ping(localPostgresURL); err != nil {
		return "", fmt.Errorf("127.0.0.1:5432: %w", err)
	}
	return localPostgresURL, nil
}

func ping(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// ensureTemplate creates, once per migration set, a template database with
// every migration applied. Test processes of several packages race here, so
// creation is serialised by an advisory lock and the template is named after
// a digest of the migrations: a changed migration gets a new template.
func ensureTemplate(ctx context.Context, adminURL string) (string, error) {
	digest, err := migrationsDigest()
	if err != nil {
		return "", err
	}
	name := "pbxhooks_tmpl_" + digest[:16]
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return "", fmt.Errorf("lock template creation: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock(727274)")

	var ready bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name).Scan(&ready)
	if err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if ready {
		return name, nil
	}
	quoted := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop half-made template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+quoted); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	if err := store.Migrate(ctx, withDatabase(adminURL, name)); err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+quoted+" WITH is_template true"); err != nil {
		return "", fmt.Errorf("mark template: %w", err)
	}
	return name, nil
}

func createFromTemplate(ctx context.Context, adminURL, name, template string) error {
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	for {
		err := execAdmin(ctx, adminURL, stmt)
		// Two clones of one template at the same instant can collide on
		// "source database is being accessed by other users"; retry.
		if err == nil || !strings.Contains(err.Error(), "being accessed by other users") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func execAdmin(ctx context.Context, adminURL, stmt string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

func migrationsDigest() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(store.Migrations(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(store.Migrations(), path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func withDatabase(serverURL, db string) string {
	u, err := url.Parse(serverURL)
	if err != nil {
		return serverURL
	}
	u.Path = "/" + db
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
