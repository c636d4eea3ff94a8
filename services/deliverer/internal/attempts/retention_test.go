package attempts_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/services/deliverer/internal/attempts"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

func TestRetentionDropsOldPartitionsAndDeletesOldDefaultRows(t *testing.T) {
	t.Parallel()
	_, pool := testenv.Postgres(t)
	q := store.New(pool)
	ctx := t.Context()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	// Day partitions 40 and 35 days old, with a row each; rows 40 days old
	// in attempts_default (no partition for their day); today's rows.
	for _, age := range []int{40, 35} {
		day := today.AddDate(0, 0, -age)
		name := "attempts_" + day.Format("20060102")
		if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF attempts FOR VALUES FROM ('%s') TO ('%s')`,
			pgx.Identifier{name}.Sanitize(), day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339))); err != nil {
			t.Fatalf("create partition: %v", err)
		}
	}
	var rows []store.InsertAttemptsParams
	add := func(n int, at time.Time) {
		for i := range n {
			r := row("acct", len(rows)+i, "success")
			r.CreatedAt = at
			rows = append(rows, r)
		}
	}
	add(1, today.AddDate(0, 0, -40).Add(time.Hour))
	add(1, today.AddDate(0, 0, -35).Add(time.Hour))
	add(7, today.AddDate(0, 0, -45).Add(time.Hour)) // attempts_default
	add(3, time.Now())
	if err := attempts.EnsurePartitions(ctx, q); err != nil {
		t.Fatal(err)
	}
	if _, err := q.InsertAttempts(ctx, rows); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var inDefault int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM attempts_default`).Scan(&inDefault); err != nil || inDefault != 7 {
		t.Fatalf("attempts_default holds %d rows (%v), want 7", inDefault, err)
	}

	m := attempts.NewMaintenance(pool, 30*24*time.Hour, slog.New(slog.DiscardHandler))
	m.BatchSize = 3
	// Another replica holds the lock: this run skips retention.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if locked, err := store.New(conn).TryPartitionMaintenanceLock(ctx, store.AttemptsTable.LockKey); err != nil || !locked {
		t.Fatalf("take lock: %v %v", locked, err)
	}
	if res, err := m.RunOnce(ctx); err != nil || !res.Skipped {
		t.Fatalf("run while locked elsewhere = %+v, %v; want skipped", res, err)
	}
	if err := store.New(conn).ReleasePartitionMaintenanceLock(ctx, store.AttemptsTable.LockKey); err != nil {
		t.Fatal(err)
	}
	conn.Release()

	res, err := m.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if res.Skipped || res.PartitionsDropped != 2 || res.RowsDeleted != 7 {
		t.Fatalf("result = %+v, want 2 partitions dropped and 7 rows deleted", res)
	}
	if got := countRows(t, q, "acct"); got != 3 {
		t.Fatalf("%d rows left, want today's 3", got)
	}
	// The dropped partitions are gone; today's and later ones remain.
	for _, name := range []string{
		"attempts_" + today.AddDate(0, 0, -40).Format("20060102"),
		"attempts_" + today.AddDate(0, 0, -35).Format("20060102"),
	} {
		var exists bool
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil || exists {
			t.Fatalf("partition %s still exists (%v)", name, err)
		}
	}
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "attempts_"+today.Format("20060102")).Scan(&exists); err != nil || !exists {
		t.Fatalf("today's partition is gone (%v)", err)
	}
}
