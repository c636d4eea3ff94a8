-- name: InsertHook :one
-- The API's create: CreateHook plus the fields added after the first
-- migration (include_subaccounts).
INSERT INTO hooks (
    id, account_id, name, uri, http_verb, hook, retries, custom_data, enabled, format,
    include_internal_legs, include_subaccounts, call_types, call_statuses, media_types, secret
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16
)
RETURNING *;

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
