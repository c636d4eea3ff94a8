-- Day partitions and retention of the partitioned tables (attempts,
-- events_index); store.PartitionedTable names them.

-- name: EnsureDailyPartitions :exec
SELECT ensure_daily_partitions(sqlc.arg(parent)::text, sqlc.arg(days_ahead)::integer);

-- name: DropExpiredDailyPartitions :one
SELECT drop_expired_daily_partitions(sqlc.arg(parent)::text, sqlc.arg(cutoff)::timestamptz)::integer AS dropped;

-- name: DeleteExpiredDefaultRows :one
-- One bounded batch of rows older than cutoff from the default partition,
-- so retention never holds long row locks.
SELECT delete_expired_default_rows(sqlc.arg(parent)::text, sqlc.arg(time_column)::text,
    sqlc.arg(cutoff)::timestamptz, sqlc.arg(batch_size)::integer)::bigint AS deleted;

-- name: TryPartitionMaintenanceLock :one
-- Session advisory lock: one replica at a time runs a table's retention.
SELECT pg_try_advisory_lock(sqlc.arg(lock_key)::bigint) AS locked;

-- name: ReleasePartitionMaintenanceLock :exec
SELECT pg_advisory_unlock(sqlc.arg(lock_key)::bigint);
