package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// PartitionedTable is a table partitioned by day on a timestamptz column,
// with a DEFAULT partition (<Name>_default) and day partitions
// (<Name>_YYYYMMDD). The SQL functions of migration 00005 make and drop
// those partitions for any such table; PartitionMaintenance runs them.
type PartitionedTable struct {
	Name string
	// TimeColumn is the partition key.
	TimeColumn string
	// LockKey is the PostgreSQL advisory lock one replica holds while it
	// enforces this table's retention.
	LockKey int64
}

// The partitioned tables.
var (
	// AttemptsTable holds every delivery attempt (the deliverer keeps it).
	AttemptsTable = PartitionedTable{Name: "attempts", TimeColumn: "created_at", LockKey: 7206542102391}
	// EventsIndexTable is the searchable copy of EVENTS (the API keeps it).
	EventsIndexTable = PartitionedTable{Name: "events_index", TimeColumn: "received_at", LockKey: 7206542102392}
)

// Partition maintenance defaults.
const (
	// PartitionDaysAhead is how many days of partitions exist ahead of
	// today, so a service down for a couple of days still finds its
	// partition.
	PartitionDaysAhead = 3
	// DefaultRetentionDeleteBatch bounds one DELETE of old default-partition
	// rows, so no statement holds many row locks or a long transaction.
	DefaultRetentionDeleteBatch = 5000
)

// EnsurePartitions creates t's partitions from today to PartitionDaysAhead.
func EnsurePartitions(ctx context.Context, q *Queries, t PartitionedTable) error {
	if err := q.EnsureDailyPartitions(ctx, EnsureDailyPartitionsParams{Parent: t.Name, DaysAhead: PartitionDaysAhead}); err != nil {
		return fmt.Errorf("ensure %s partitions: %w", t.Name, err)
	}
	return nil
}

// PartitionMaintenance keeps a partitioned table in shape: tomorrow's
// partitions exist, and rows older than Retention are gone. Whole day
// partitions are dropped (a short lock bounded by lock_timeout, not a long
// delete); rows that landed in the default partition are deleted in
// batches. Only one replica at a time does the retention part, under the
// table's session advisory lock; the others skip it that round.
type PartitionMaintenance struct {
	Pool      *pgxpool.Pool
	Table     PartitionedTable
	Retention time.Duration
	// BatchSize bounds one delete; DefaultRetentionDeleteBatch when zero.
	BatchSize int
	Log       *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// RetentionResult says what one run removed.
type RetentionResult struct {
	// Skipped is true when another replica held the lock.
	Skipped           bool
	PartitionsDropped int
	RowsDeleted       int64
}

// RunOnce makes sure partitions exist, then enforces retention.
func (m *PartitionMaintenance) RunOnce(ctx context.Context) (RetentionResult, error) {
	if m.Retention <= 0 {
		return RetentionResult{}, fmt.Errorf("%s retention must be positive, not %s", m.Table.Name, m.Retention)
	}
	if err := EnsurePartitions(ctx, New(m.Pool), m.Table); err != nil {
		return RetentionResult{}, err
	}
	conn, err := m.Pool.Acquire(ctx)
	if err != nil {
		return RetentionResult{}, fmt.Errorf("%s retention: acquire connection: %w", m.Table.Name, err)
	}
	q := New(conn)
	locked, err := q.TryPartitionMaintenanceLock(ctx, m.Table.LockKey)
	if err != nil {
		conn.Release()
		return RetentionResult{}, fmt.Errorf("%s retention: take lock: %w", m.Table.Name, err)
	}
	if !locked {
		conn.Release()
		return RetentionResult{Skipped: true}, nil
	}
	defer func() {
		// A session lock outlives the pool's use of the connection: unlock,
		// or close the connection when unlocking fails.
		if err := q.ReleasePartitionMaintenanceLock(context.WithoutCancel(ctx), m.Table.LockKey); err != nil {
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}()
	return m.enforce(ctx, q)
}

func (m *PartitionMaintenance) enforce(ctx context.Context, q *Queries) (RetentionResult, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	batch := m.BatchSize
	if batch <= 0 {
		batch = DefaultRetentionDeleteBatch
	}
	cutoff := now().Add(-m.Retention)
	var res RetentionResult
	dropped, err := q.DropExpiredDailyPartitions(ctx, DropExpiredDailyPartitionsParams{Parent: m.Table.Name, Cutoff: cutoff})
	if err != nil {
		return res, fmt.Errorf("drop %s partitions before %s: %w", m.Table.Name, cutoff.Format(time.RFC3339), err)
	}
	res.PartitionsDropped = int(dropped)
	for {
		n, err := q.DeleteExpiredDefaultRows(ctx, DeleteExpiredDefaultRowsParams{
			Parent: m.Table.Name, TimeColumn: m.Table.TimeColumn, Cutoff: cutoff, BatchSize: int32(batch)})
		if err != nil {
			return res, fmt.Errorf("delete %s rows before %s: %w", m.Table.Name, cutoff.Format(time.RFC3339), err)
		}
		res.RowsDeleted += n
		if n < int64(batch) || ctx.Err() != nil {
			return res, nil
		}
	}
}

// Run calls RunOnce every interval until ctx ends. A failure is logged and
// retried next time: rows without a partition still land in the default
// partition, and retention merely runs late.
func (m *PartitionMaintenance) Run(ctx context.Context, every time.Duration) error {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			res, err := m.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				m.Log.ErrorContext(ctx, "partition maintenance failed", "table", m.Table.Name, telemetry.KeyError, err)
				continue
			}
			if res.PartitionsDropped > 0 || res.RowsDeleted > 0 {
				m.Log.InfoContext(ctx, "old rows removed", "table", m.Table.Name,
					"partitions_dropped", res.PartitionsDropped, "rows_deleted", res.RowsDeleted)
			}
		}
	}
}
