-- +goose Up

-- scopes says what an account token may do: "api" (the management API),
-- "pbx" (feed its own account's events to ingest), "pbx_any" (feed the
-- shared multi-tenant ingest routes, where each event names its account).
-- pkg/credential is the one definition of the values. Tokens made before
-- scopes existed could only use the API, so the default keeps them there.
-- A column with a constant default is a catalog-only change, and code that
-- does not know the column (it names its columns) keeps working: its new
-- tokens get the default.
ALTER TABLE api_tokens ADD COLUMN scopes text[] NOT NULL DEFAULT '{api}';

-- goose runs this file in one transaction, so the ADD COLUMN's exclusive
-- lock is held until commit whatever follows; adding the check NOT VALID
-- and validating it apart would not shorten it. The check scans a table of
-- one row per issued token: a short lock.
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_scopes_known
    CHECK (cardinality(scopes) BETWEEN 1 AND 3 AND scopes <@ ARRAY['api', 'pbx', 'pbx_any']::text[]);

-- +goose Down
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_scopes_known;
ALTER TABLE api_tokens DROP COLUMN scopes;
