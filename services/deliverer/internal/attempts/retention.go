package attempts

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pbxhooks/pbxhooks/pkg/store"
	"github.com/pbxhooks/pbxhooks/pkg/telemetry"
)

// Retention defaults.
const (
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultDeleteBatch bounds one DELETE of old attempts_default rows, so
	// no statement holds many row locks or a long transaction.
	DefaultDeleteBatch = 5000
)

// Maintenance keeps the attempts table in shape: tomorrow's partitions
// exist, and attempts older than Retention are gone. Whole day partitions
// are dropped (a short lock bounded by lock_timeout, not a long delete);
// rows that landed in attempts_default are deleted in batches. Only one
// replica at a time does the retention part, under a PostgreSQL session
// advisory lock; the others skip it that round.
type Maintenance struct {
	Pool      *pgxpool.Pool
	Retention time.Duration
	// BatchSize bounds one delete; DefaultDeleteBatch when zero.
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
func (m *Maintenance) RunOnce(ctx context.Context) (RetentionResult, error) {
	if err := EnsurePartitions(ctx, store.New(m.Pool)); err != nil {
		return RetentionResult{}, err
	}
	conn, err := m.Pool.Acquire(ctx)
	if err != nil {
		return RetentionResult{}, fmt.Errorf("attempt retention: acquire connection: %w", err)
	}
	q := store.New(conn)
	locked, err := q.TryAttemptMaintenanceLock(ctx)
	if err != nil {
		conn.Release()
		return RetentionResult{}, fmt.Errorf("attempt retention: take lock: %w", err)
	}
	if !locked {
		conn.Release()
		return RetentionResult{Skipped: true}, nil
	}
	defer func() {
		// A session lock outlives the pool's use of the connection: unlock,
		// or close the connection when unlocking fails.
		if err := q.ReleaseAttemptMaintenanceLock(context.WithoutCancel(ctx)); err != nil {
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}()
	return m.enforce(ctx, q)
}

func (m *Maintenance) enforce(ctx context.Context, q *store.Queries) (RetentionResult, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	retention := m.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	batch := m.BatchSize
	if batch <= 0 {
		batch = DefaultDeleteBatch
	}
	cutoff := now().Add(-retention)
	var res RetentionResult
	dropped, err := q.DropExpiredAttemptPartitions(ctx, cutoff)
	if err != nil {
		return res, fmt.Errorf("drop attempt partitions before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	res.PartitionsDropped = int(dropped)
	for {
		n, err := q.DeleteExpiredAttempts(ctx, store.DeleteExpiredAttemptsParams{Cutoff: cutoff, BatchSize: int32(batch)})
		if err != nil {
			return res, fmt.Errorf("delete attempts before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		res.RowsDeleted += n
		if n < int64(batch) || ctx.Err() != nil {
			return res, nil
		}
	}
}

// Run calls RunOnce every interval until ctx ends. A failure is logged and
// retried next time: rows without a partition still land in
// attempts_default, and retention merely runs late.
func (m *Maintenance) Run(ctx context.Context, every time.Duration) error {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			res, err := m.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				m.Log.ErrorContext(ctx, "attempt maintenance failed", telemetry.KeyError, err)
				continue
			}
			if res.PartitionsDropped > 0 || res.RowsDeleted > 0 {
				m.Log.InfoContext(ctx, "old attempts removed", "partitions_dropped", res.PartitionsDropped, "rows_deleted", res.RowsDeleted)
			}
		}
	}
}
