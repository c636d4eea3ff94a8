-- +goose Up

-- include_subaccounts is Kazoo's flag for hooks that also hear the account's
-- sub-accounts. pbxhooks has no sub-accounts yet; the API stores the flag so
-- a Kazoo client reads back what it wrote instead of having it rejected.
-- Adding a column with a constant default is a catalog-only change: safe
-- while older code (which names its columns explicitly) runs.
ALTER TABLE hooks ADD COLUMN include_subaccounts boolean NOT NULL DEFAULT false;

-- The token list of an account shows the active tokens, oldest first.
CREATE INDEX api_tokens_active_idx ON api_tokens (account_id, created_at) WHERE revoked_at IS NULL;

-- +goose Down
DROP INDEX api_tokens_active_idx;
ALTER TABLE hooks DROP COLUMN include_subaccounts;
