package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/testkit/pgcluster"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestIsUnavailableTellsOutagesFromQueryFaults(t *testing.T) {
	t.Parallel()
	// A real refused connection: nothing listens on a port just found free.
	port, err := pgcluster.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, refused := pool.Exec(ctx, "SELECT 1")
	if refused == nil || !store.IsUnavailable(refused) {
		t.Fatalf("refused connection: IsUnavailable(%v) = false", refused)
	}

	// A real query fault on a working server is not an outage.
	_, live := testenv.Postgres(t)
	_, syntax := live.Exec(ctx, "SELEC 1")
	if syntax == nil || store.IsUnavailable(syntax) {
		t.Fatalf("syntax error: IsUnavailable(%v) = true", syntax)
	}
	if store.IsUnavailable(nil) || store.IsUnavailable(errors.New("boom")) {
		t.Fatal("nil or a plain error counted as unavailable")
	}
	shutdown := &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}
	if !store.IsUnavailable(fmt.Errorf("list hooks: %w", shutdown)) {
		t.Fatal("admin shutdown not counted as unavailable")
	}
}
