-- name: GetAccountDeliverySettings :one
-- The account's auto-disable overrides; no row when it has none.
SELECT attempt_failure_count, attempt_failure_expiry_seconds, modified_at
FROM account_delivery_settings
WHERE account_id = $1;

-- name: UpdateAccountDeliverySettings :one
-- Merges a change into the account's overrides in one statement, so two
-- concurrent changes of different fields both land: a field is written
-- only when its set_ flag is true, and NULL there restores the deployment
-- default.
INSERT INTO account_delivery_settings AS s (account_id, attempt_failure_count, attempt_failure_expiry_seconds)
VALUES (sqlc.arg(account_id), sqlc.narg(attempt_failure_count), sqlc.narg(attempt_failure_expiry_seconds))
ON CONFLICT (account_id) DO UPDATE SET
    attempt_failure_count = CASE WHEN sqlc.arg(set_count)::boolean
        THEN EXCLUDED.attempt_failure_count ELSE s.attempt_failure_count END,
    attempt_failure_expiry_seconds = CASE WHEN sqlc.arg(set_expiry)::boolean
        THEN EXCLUDED.attempt_failure_expiry_seconds ELSE s.attempt_failure_expiry_seconds END,
    modified_at = now()
RETURNING attempt_failure_count, attempt_failure_expiry_seconds, modified_at;
