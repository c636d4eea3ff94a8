-- name: CreateHook :one
INSERT INTO hooks (
    id, account_id, name, uri, http_verb, hook, retries, custom_data, enabled, format,
    include_internal_legs, call_types, call_statuses, media_types, secret
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
)
RETURNING *;

-- name: GetHook :one
SELECT * FROM hooks WHERE account_id = $1 AND id = $2;

-- name: ListHooks :many
SELECT * FROM hooks WHERE account_id = $1 ORDER BY created_at, id;

-- name: ListEnabledHooksForAccount :many
SELECT * FROM hooks WHERE account_id = $1 AND enabled ORDER BY created_at, id;

-- name: ListEnabledHooks :many
-- Pages through every enabled hook by id, for the matcher's full load.
SELECT * FROM hooks WHERE enabled AND id > sqlc.arg(after_id)::text ORDER BY id LIMIT sqlc.arg(page_size);

-- name: GetHookByID :one
SELECT * FROM hooks WHERE id = $1;
