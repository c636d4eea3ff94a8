-- +goose Up

-- account_delivery_settings overrides the deployment's auto-disable rule
-- (DELIVERY_ATTEMPT_FAILURE_COUNT failures within
-- DELIVERY_ATTEMPT_FAILURE_EXPIRY) for one account, as Kazoo's
-- attempt_failure_count and attempt_failure_expiry do. NULL keeps the
-- deployment default for that field.
CREATE TABLE account_delivery_settings (
    account_id                     text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    attempt_failure_count          integer CHECK (attempt_failure_count BETWEEN 1 AND 1000),
    attempt_failure_expiry_seconds integer CHECK (attempt_failure_expiry_seconds BETWEEN 1 AND 86400),
    modified_at                    timestamptz NOT NULL DEFAULT now()
);

-- hook_failure_windows holds, per hook, the times of its most recent failed
-- attempts (at most attempt_failure_count of them, newer than the expiry),
-- so every deliverer replica shares one count and a restart keeps it. It is
-- updated by one statement per failed attempt; a success or a new hook
-- revision (the API re-enabling the hook) empties it.
CREATE TABLE hook_failure_windows (
    hook_id       text PRIMARY KEY REFERENCES hooks (id) ON DELETE CASCADE,
    hook_revision bigint NOT NULL,
    failed_at     timestamptz[] NOT NULL DEFAULT '{}'
);

-- drop_expired_attempt_partitions drops the daily attempt partitions whose
-- whole day is older than cutoff and returns how many it dropped. Each DROP
-- needs a short exclusive lock on attempts, so lock_timeout bounds the wait:
-- behind a long query the drop fails and the next maintenance run retries,
-- instead of queueing every attempt insert behind it.
-- +goose StatementBegin
CREATE FUNCTION drop_expired_attempt_partitions(cutoff timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part text;
    dropped integer := 0;
BEGIN
    PERFORM set_config('lock_timeout', '2s', true);
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'attempts' AND c.relname ~ '^attempts_[0-9]{8}$'
        ORDER BY c.relname
    LOOP
        IF ((to_date(substr(part, 10), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC') <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION drop_expired_attempt_partitions(timestamptz);
DROP TABLE hook_failure_windows;
DROP TABLE account_delivery_settings;
