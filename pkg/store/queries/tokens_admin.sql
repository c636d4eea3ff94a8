-- name: ListActiveTokens :many
SELECT id, account_id, name, scopes, created_at FROM api_tokens
WHERE account_id = $1 AND revoked_at IS NULL
ORDER BY created_at, id;

-- name: RevokeToken :one
-- Revokes an active token; no row means it does not exist in the account
-- or was already revoked.
UPDATE api_tokens SET revoked_at = now()
WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL
RETURNING id, account_id, name, scopes, created_at;
