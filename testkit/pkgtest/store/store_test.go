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

func TestAttemptPartitionsAreMadeAhead(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	ctx := context.Background()
	if err := store.New(pool).EnsureAttemptPartitions(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var n int
	err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'attempts'::regclass AND c.relname <> 'attempts_default'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("want 4 daily partitions (today and 3 ahead), got %d", n)
	}
}
