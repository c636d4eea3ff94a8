-- +goose Up

-- accounts are the tenants. An account exists once an administrator created
-- it (explicitly, or implicitly with its first hook or token).
CREATE TABLE accounts (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- hooks are the webhook subscriptions, in Kazoo's shape plus Spoke's call and
-- media filters. Empty filter arrays mean "any".
CREATE TABLE hooks (
    id                         text PRIMARY KEY,
    account_id                 text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                       text NOT NULL,
    uri                        text NOT NULL,
    http_verb                  text NOT NULL DEFAULT 'post',
    hook                       text NOT NULL,
    retries                    integer NOT NULL DEFAULT 2,
    custom_data                jsonb NOT NULL DEFAULT '{}'::jsonb,
    enabled                    boolean NOT NULL DEFAULT true,
    format                     text NOT NULL DEFAULT 'form-data',
    include_internal_legs      boolean NOT NULL DEFAULT true,
    call_types                 text[] NOT NULL DEFAULT '{}',
    call_statuses              text[] NOT NULL DEFAULT '{}',
    media_types                text[] NOT NULL DEFAULT '{}',
    disable_reason             text NOT NULL DEFAULT '',
    secret                     text NOT NULL,
    previous_secret            text NOT NULL DEFAULT '',
    previous_secret_expires_at timestamptz,
    revision                   bigint NOT NULL DEFAULT 1,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    modified_at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hooks_account_id_idx ON hooks (account_id, created_at);

-- api_tokens are account-scoped credentials; only a SHA-256 of the token is
-- kept, so a database leak does not leak usable tokens.
CREATE TABLE api_tokens (
    id         text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name       text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_tokens_account_id_idx ON api_tokens (account_id);

-- attempts records every HTTP callback attempt. It is partitioned by day so
-- retention drops whole partitions instead of deleting rows under locks;
-- attempts_default catches rows for days whose partition was not made yet.
CREATE TABLE attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    account_id       text NOT NULL,
    hook_id          text NOT NULL,
    event_id         text NOT NULL,
    delivery_id      text NOT NULL,
    attempt          integer NOT NULL,
    retries_left     integer NOT NULL,
    result           text NOT NULL CHECK (result IN ('success', 'failure')),
    reason           text NOT NULL DEFAULT '',
    request_method   text NOT NULL,
    request_url      text NOT NULL,
    request_headers  jsonb NOT NULL DEFAULT '{}'::jsonb,
    response_status  integer,
    response_headers jsonb,
    response_body    text,
    client_error     text,
    latency_ms       integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE attempts_default PARTITION OF attempts DEFAULT;
CREATE INDEX attempts_account_id_idx ON attempts (account_id, id DESC);
CREATE INDEX attempts_hook_id_idx ON attempts (hook_id, id DESC);
CREATE INDEX attempts_delivery_id_idx ON attempts (delivery_id);

-- ensure_attempt_partitions creates the daily partitions from today to
-- days_ahead days ahead; it is idempotent and safe to call from many replicas.
-- +goose StatementBegin
CREATE FUNCTION ensure_attempt_partitions(days_ahead integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    day date;
    part text;
BEGIN
    FOR i IN 0..days_ahead LOOP
        day := (now() AT TIME ZONE 'UTC')::date + i;
        part := 'attempts_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF attempts FOR VALUES FROM (%L) TO (%L)',
                    part, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            EXCEPTION WHEN duplicate_table OR check_violation THEN
                NULL; -- made by another replica, or rows for that day already sit in attempts_default
            END;
        END IF;
    END LOOP;
END;
$$;
-- +goose StatementEnd

SELECT ensure_attempt_partitions(2);

-- +goose Down
DROP FUNCTION ensure_attempt_partitions(integer);
DROP TABLE attempts;
DROP TABLE api_tokens;
DROP TABLE hooks;
DROP TABLE accounts;
