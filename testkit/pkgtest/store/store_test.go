package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresURL(t)
	// The template already has every migration; running them again is a no-op.
	if err := store.Migrate(t.Context(), dsn); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestAttemptsCopyAndPageNewestFirst(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	ctx := t.Context()
	q := store.New(pool)
	now := time.Now().UTC()
	rows := make([]store.InsertAttemptsParams, 5)
	for i := range rows {
		rows[i] = store.InsertAttemptsParams{
			AccountID: "acct1", HookID: "hook1", EventID: "ev", DeliveryID: "ev-hook1",
			Attempt: int32(i + 1), RetriesLeft: int32(4 - i), Result: "failure",
			RequestMethod: "POST", RequestUrl: "http://127.0.0.1/x", RequestHeaders: json.RawMessage(`{}`),
			CreatedAt: now,
		}
	}
	n, err := q.InsertAttempts(ctx, rows)
	if err != nil || n != 5 {
		t.Fatalf("copy attempts: n=%d err=%v", n, err)
	}
	first, err := q.ListAttemptsFiltered(ctx, store.ListAttemptsFilteredParams{AccountID: "acct1", PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 || first[0].Attempt != 5 || first[2].Attempt != 3 {
		t.Fatalf("first page: %+v", first)
	}
	second, err := q.ListAttemptsFiltered(ctx, store.ListAttemptsFilteredParams{AccountID: "acct1", PageSize: 3, BeforeID: first[2].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 2 || second[0].Attempt != 2 {
		t.Fatalf("second page: %+v", second)
	}
	other, err := q.ListAttemptsFiltered(ctx, store.ListAttemptsFilteredParams{AccountID: "acct2", PageSize: 3})
	if err != nil || len(other) != 0 {
		t.Fatalf("other account sees %d attempts, err=%v", len(other), err)
	}
}

// TestDailyPartitionsAreMadeAhead runs the one partition definition over
// every partitioned table.
func TestDailyPartitionsAreMadeAhead(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	ctx := context.Background()
	for _, table := range []store.PartitionedTable{store.AttemptsTable, store.EventsIndexTable} {
		if err := store.EnsurePartitions(ctx, store.New(pool), table); err != nil {
			t.Fatal(err)
		}
		// Twice: another replica may make them at the same time.
		if err := store.EnsurePartitions(ctx, store.New(pool), table); err != nil {
			t.Fatal(err)
		}
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass AND c.relname <> $1 || '_default'`, table.Name).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != store.PartitionDaysAhead+1 {
			t.Fatalf("%s: want %d daily partitions (today and %d ahead), got %d", table.Name, store.PartitionDaysAhead+1, store.PartitionDaysAhead, n)
		}
	}
}
