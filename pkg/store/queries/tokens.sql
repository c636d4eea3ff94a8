-- name: CreateToken :one
INSERT INTO api_tokens (id, account_id, name, token_hash, scopes) VALUES ($1, $2, $3, $4, $5)
RETURNING id, account_id, name, scopes, created_at;

-- name: GetActiveTokenByHash :one
SELECT id, account_id, name, scopes, created_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL;
