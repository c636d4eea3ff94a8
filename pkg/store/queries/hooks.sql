-- Hooks: the API's reads and edits, the matcher's loads, and what the
-- deliverer reads and changes of a hook (its state, failure window, disable).

-- name: InsertHook :one
-- The API's create.
INSERT INTO hooks (
    id, account_id, name, uri, http_verb, hook, retries, custom_data, enabled, format,
    include_internal_legs, include_subaccounts, call_types, call_statuses, media_types, secret
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
)
RETURNING *;

-- name: GetHook :one
SELECT * FROM hooks WHERE account_id = $1 AND id = $2;

-- name: ListHooks :many
SELECT * FROM hooks WHERE account_id = $1 ORDER BY created_at, id;

-- name: UpdateHook :one
-- Replaces the writable fields when the stored revision is the expected one
-- (optimistic concurrency): no row means the hook is gone or the revision is
-- stale. Enabling a hook clears the reason it was disabled for.
UPDATE hooks SET
    name = sqlc.arg(name),
    uri = sqlc.arg(uri),
    http_verb = sqlc.arg(http_verb),
    hook = sqlc.arg(hook),
    retries = sqlc.arg(retries),
    custom_data = sqlc.arg(custom_data),
    enabled = sqlc.arg(enabled),
    format = sqlc.arg(format),
    include_internal_legs = sqlc.arg(include_internal_legs),
    include_subaccounts = sqlc.arg(include_subaccounts),
    call_types = sqlc.arg(call_types),
    call_statuses = sqlc.arg(call_statuses),
    media_types = sqlc.arg(media_types),
    disable_reason = CASE WHEN sqlc.arg(enabled)::boolean THEN '' ELSE disable_reason END,
    revision = revision + 1,
    modified_at = now()
WHERE account_id = sqlc.arg(account_id) AND id = sqlc.arg(id) AND revision = sqlc.arg(expected_revision)
RETURNING *;

-- name: DeleteHook :one
-- Deletes the hook when the revision matches, or whatever the revision when
-- expected_revision is NULL.
DELETE FROM hooks
WHERE account_id = sqlc.arg(account_id) AND id = sqlc.arg(id)
  AND (sqlc.narg(expected_revision)::bigint IS NULL OR revision = sqlc.narg(expected_revision))
RETURNING *;

-- name: RotateHookSecret :one
-- Moves the current secret to previous_secret, valid until
-- previous_expires_at, so receivers can switch over without losing events.
UPDATE hooks SET
    previous_secret = secret,
    previous_secret_expires_at = sqlc.arg(previous_expires_at),
    secret = sqlc.arg(secret),
    revision = revision + 1,
    modified_at = now()
WHERE account_id = sqlc.arg(account_id) AND id = sqlc.arg(id)
  AND (sqlc.narg(expected_revision)::bigint IS NULL OR revision = sqlc.narg(expected_revision))
RETURNING *;

-- name: ReenableAutoDisabledHooks :many
-- Re-enables the hooks the deliverer disabled (they carry a reason); hooks
-- a person disabled (no reason) stay disabled.
UPDATE hooks SET
    enabled = true,
    disable_reason = '',
    revision = revision + 1,
    modified_at = now()
WHERE account_id = $1 AND NOT enabled AND disable_reason <> ''
RETURNING *;

-- name: ListEnabledHooksForAccount :many
SELECT * FROM hooks WHERE account_id = $1 AND enabled ORDER BY created_at, id;

-- name: ListEnabledHooks :many
-- Pages through every enabled hook by id, for the matcher's full load.
SELECT * FROM hooks WHERE enabled AND id > sqlc.arg(after_id)::text ORDER BY id LIMIT sqlc.arg(page_size);

-- name: GetHookByID :one
SELECT * FROM hooks WHERE id = $1;

-- name: GetDeliveryHook :one
-- What the deliverer needs of a hook: its state, signing secrets and the
-- account's auto-disable override (NULL fields keep the deployment default).
SELECT h.id, h.account_id, h.enabled, h.disable_reason, h.secret, h.previous_secret,
       h.previous_secret_expires_at, h.revision, h.modified_at,
       (h.relay_lease_expires_at IS NOT NULL)::boolean AS relay,
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

-- name: InsertRelayHook :one
-- The API's relay endpoint: a hook that exists while one `pbxhooks listen`
-- connection lasts, leased until lease_expires_at.
INSERT INTO hooks (
    id, account_id, name, uri, http_verb, hook, retries, custom_data, enabled, format,
    include_internal_legs, include_subaccounts, call_types, call_statuses, media_types, secret,
    relay_lease_expires_at
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, sqlc.arg(lease_expires_at)::timestamptz
)
RETURNING *;

-- name: RenewRelayLease :execrows
-- No row: the relay hook is gone (deleted through the API, or swept).
UPDATE hooks SET relay_lease_expires_at = sqlc.arg(lease_expires_at)::timestamptz
WHERE account_id = sqlc.arg(account_id) AND id = sqlc.arg(id) AND relay_lease_expires_at IS NOT NULL;

-- name: DeleteRelayHook :execrows
DELETE FROM hooks WHERE account_id = $1 AND id = $2 AND relay_lease_expires_at IS NOT NULL;

-- name: DeleteExpiredRelayHooks :many
-- Relay hooks whose connection's replica stopped renewing them (it crashed).
DELETE FROM hooks WHERE relay_lease_expires_at < sqlc.arg(now)::timestamptz
RETURNING account_id, id;
