-- name: GetDeliveryHook :one
-- What the deliverer needs of a hook: its state, signing secrets and the
-- account's auto-disable override (NULL fields keep the deployment default).
SELECT h.id, h.account_id, h.enabled, h.disable_reason, h.secret, h.previous_secret,
       h.previous_secret_expires_at, h.revision, h.modified_at,
       s.attempt_failure_count, s.attempt_failure_expiry_seconds
FROM hooks h
LEFT JOIN account_delivery_settings s ON s.account_id = h.account_id
WHERE h.id = $1;

-- name: RecordHookFailure :one
-- Adds one failure at failed_at to the hook's window and returns how many
-- failures the window holds: those newer than failed_at - expiry, at most
-- keep of them. A newer hook_revision (the hook was changed, e.g.
-- re-enabled) starts the window afresh; an older one (a replica with a stale
-- cache) does not roll the revision back.
INSERT INTO hook_failure_windows AS w (hook_id, hook_revision, failed_at)
VALUES (sqlc.arg(hook_id), sqlc.arg(hook_revision), ARRAY[sqlc.arg(failed_at)::timestamptz])
ON CONFLICT (hook_id) DO UPDATE SET
    hook_revision = GREATEST(w.hook_revision, EXCLUDED.hook_revision),
    failed_at = ARRAY(
        SELECT t
        FROM unnest(CASE WHEN EXCLUDED.hook_revision > w.hook_revision THEN '{}'::timestamptz[] ELSE w.failed_at END) AS t
        WHERE t > sqlc.arg(failed_at)::timestamptz - make_interval(secs => sqlc.arg(expiry_seconds)::integer)
        ORDER BY t DESC
        LIMIT GREATEST(sqlc.arg(keep)::integer - 1, 0)
    ) || EXCLUDED.failed_at
RETURNING cardinality(failed_at)::integer AS failures;

-- name: ResetHookFailures :exec
DELETE FROM hook_failure_windows WHERE hook_id = $1;

-- name: DisableHook :one
-- Disables an enabled hook and returns it; no row when it was already
-- disabled (another replica got there first) or is gone, so exactly one
-- replica announces the change.
UPDATE hooks
SET enabled = false, disable_reason = sqlc.arg(reason), revision = revision + 1, modified_at = now()
WHERE id = sqlc.arg(id) AND enabled
RETURNING id, account_id, revision;

-- name: CountDeliveryAttempts :one
-- How many failed attempts a delivery has had and whether one succeeded,
-- over the stream's retention (older partitions are pruned from the scan).
SELECT count(*) FILTER (WHERE result = 'failure')::integer AS failures,
       coalesce(bool_or(result = 'success'), false)::boolean AS succeeded
FROM attempts
WHERE delivery_id = sqlc.arg(delivery_id) AND created_at >= sqlc.arg(since);

-- name: DropExpiredAttemptPartitions :one
SELECT drop_expired_attempt_partitions(sqlc.arg(cutoff)::timestamptz)::integer AS dropped;

-- name: DeleteExpiredAttempts :execrows
-- One bounded batch of attempts older than cutoff, so retention never holds
-- long row locks. Day partitions that old are dropped whole; the rows this
-- finds sit in attempts_default (written before their day's partition
-- existed), and partition pruning keeps newer partitions out of the scan.
DELETE FROM attempts
WHERE (id, created_at) IN (
    SELECT a.id, a.created_at FROM attempts a WHERE a.created_at < sqlc.arg(cutoff) LIMIT sqlc.arg(batch_size)
);

-- name: TryAttemptMaintenanceLock :one
-- Session advisory lock: one replica at a time runs attempt retention.
SELECT pg_try_advisory_lock(7206542102391) AS locked;

-- name: ReleaseAttemptMaintenanceLock :exec
SELECT pg_advisory_unlock(7206542102391);
