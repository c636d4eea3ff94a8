-- +goose Up

-- console_sessions are the browser console's sign-ins, in the database so
-- that every API replica serves every session and a sign-out ends the
-- session everywhere at once. The cookie holds a random secret; the row is
-- found by the secret's SHA-256 and holds the sign-in token sealed
-- (AES-256-GCM) under a key derived from the secret, so neither a stolen
-- cookie jar alone nor a copy of this table alone yields an API token
-- (services/api/internal/console/session.go).
CREATE TABLE console_sessions (
    secret_digest bytea PRIMARY KEY CHECK (octet_length(secret_digest) = 32),
    sealed_token  bytea NOT NULL,
    -- admin and account_id say who signed in, for the navigation only:
    -- every page is a call to the API with the token, which decides.
    admin         boolean NOT NULL,
    account_id    text NOT NULL,
    csrf_token    text NOT NULL,
    created       timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- Expired sessions are deleted in bulk at each sign-in.
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
