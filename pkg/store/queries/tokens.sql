-- Tokens: the API's issue, list and revoke, and the lookup by hash every
-- authenticated request makes (pkg/credential).

-- name: CreateToken :one
INSERT INTO api_tokens (id, account_id, name, token_hash, scopes) VALUES ($1, $2, $3, $4, $5)
RETURNING id, account_id, name, scopes, created_at;

-- name: GetActiveTokenByHash :one
SELECT id, account_id, name, scopes, created_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL;

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
