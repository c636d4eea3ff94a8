-- name: ListAttemptsFiltered :many
-- Newest first; before_id pages backwards (0 means from the newest). The
-- optional bounds select created_at in [from_time, to_time) and a result.
SELECT * FROM attempts
WHERE account_id = sqlc.arg(account_id)
  AND (sqlc.narg(hook_id)::text IS NULL OR hook_id = sqlc.narg(hook_id))
  AND (sqlc.arg(before_id)::bigint = 0 OR id < sqlc.arg(before_id))
  AND (sqlc.narg(from_time)::timestamptz IS NULL OR created_at >= sqlc.narg(from_time))
  AND (sqlc.narg(to_time)::timestamptz IS NULL OR created_at < sqlc.narg(to_time))
  AND (sqlc.narg(result)::text IS NULL OR result = sqlc.narg(result))
ORDER BY id DESC
LIMIT sqlc.arg(page_size);

-- name: GetFirstAttemptForDelivery :one
-- The first recorded attempt of one delivery (event id + ":" + hook id).
SELECT * FROM attempts
WHERE account_id = $1 AND delivery_id = $2
ORDER BY id
LIMIT 1;
