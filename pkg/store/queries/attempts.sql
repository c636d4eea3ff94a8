-- name: InsertAttempts :copyfrom
INSERT INTO attempts (
    account_id, hook_id, event_id, delivery_id, attempt, retries_left, result, reason,
    request_method, request_url, request_headers, response_status, response_headers,
    response_body, client_error, latency_ms, created_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
);

-- name: EnsureAttemptPartitions :exec
SELECT ensure_attempt_partitions(sqlc.arg(days_ahead)::integer);
