-- name: EnsureAccount :exec
INSERT INTO accounts (id) VALUES ($1) ON CONFLICT (id) DO NOTHING;

-- name: AccountExists :one
SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1);
