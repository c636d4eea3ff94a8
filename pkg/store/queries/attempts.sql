-- Attempts: the deliverer's writes (COPY into day partitions), its retry
-- bookkeeping and retention, and the API's reads.

-- name: InsertAttempts :copyfrom
INSERT INTO attempts (
    account_id, hook_id, event_id, delivery_id, attempt, retries_left, result, reason,
    request_method, request_url, request_headers, response_status, response_headers,
    response_body, client_error, latency_ms, created_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
);


-- name: CountDeliveryAttempts :one
-- How many failed attempts a delivery has had and whether one succeeded,
-- over the stream's retention (older partitions are pruned from the scan).
SELECT count(*) FILTER (WHERE result = 'failure')::integer AS failures,
       coalesce(bool_or(result = 'success'), false)::boolean AS succeeded
FROM attempts
WHERE delivery_id = sqlc.arg(delivery_id) AND created_at >= sqlc.arg(since);

-- name: DeliveryAttemptHistory :one
-- A delivery's highest attempt number and newest attempt time over the
-- stream's retention (the epoch when it has none): a resend
-- (Delivery.resend_id) is numbered after them.
SELECT coalesce(max(attempt), 0)::integer AS last_attempt,
       coalesce(max(created_at), 'epoch')::timestamptz AS last_at
FROM attempts
WHERE delivery_id = sqlc.arg(delivery_id) AND created_at >= sqlc.arg(since);

-- name: ListFailedDeliveries :many
-- One hook's deliveries attempted since a time of which no attempt in that
-- time succeeded, oldest first attempt first; row_limit bounds the answer.
SELECT delivery_id, event_id,
       min(created_at)::timestamptz AS first_attempt_at,
       coalesce(max(created_at), 'epoch')::timestamptz AS last_attempt_at,
       max(attempt)::integer AS last_attempt
FROM attempts
WHERE account_id = sqlc.arg(account_id) AND hook_id = sqlc.arg(hook_id) AND created_at >= sqlc.arg(since)
GROUP BY delivery_id, event_id
HAVING NOT bool_or(result = 'success')
ORDER BY min(created_at), delivery_id
LIMIT sqlc.arg(row_limit);

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
-- The first recorded attempt of one delivery (bus.DeliveryID).
SELECT * FROM attempts
WHERE account_id = $1 AND delivery_id = $2
ORDER BY id
LIMIT 1;





-- name: ListEventAttempts :many
-- Every attempt of the given events (a call's timeline), oldest first.
-- The time bounds (from the events' received times to the deliveries'
-- lifetime after them) prune the day partitions scanned.
SELECT * FROM attempts
WHERE account_id = sqlc.arg(account_id) AND event_id = ANY(sqlc.arg(event_ids)::text[])
  AND created_at >= sqlc.arg(since) AND created_at < sqlc.arg(until)
ORDER BY id
LIMIT sqlc.arg(max_attempts);
