-- +goose Up

-- Day partitions and their retention, for any table partitioned by range on
-- a timestamptz column with a DEFAULT partition named <table>_default and
-- day partitions named <table>_YYYYMMDD: one definition for attempts and
-- events_index (pkg/store.PartitionedTable names the tables).

-- ensure_daily_partitions creates parent's day partitions from today to
-- days_ahead days ahead; idempotent and safe to call from many replicas.
-- +goose StatementBegin
CREATE FUNCTION ensure_daily_partitions(parent text, days_ahead integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    day date;
    part text;
BEGIN
    FOR i IN 0..days_ahead LOOP
        day := (now() AT TIME ZONE 'UTC')::date + i;
        part := parent || '_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                    part, parent, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
            EXCEPTION WHEN duplicate_table OR check_violation THEN
                NULL; -- made by another replica, or rows for that day already sit in the default partition
            END;
        END IF;
    END LOOP;
END;
$$;
-- +goose StatementEnd

-- drop_expired_daily_partitions drops parent's day partitions whose whole
-- day is older than cutoff and returns how many it dropped. Each DROP needs
-- a short exclusive lock on parent, so lock_timeout bounds the wait: behind
-- a long query the drop fails and the next maintenance run retries, instead
-- of queueing every insert behind it.
-- +goose StatementBegin
CREATE FUNCTION drop_expired_daily_partitions(parent text, cutoff timestamptz) RETURNS integer
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
        WHERE p.relname = parent AND c.relname ~ ('^' || parent || '_[0-9]{8}$')
        ORDER BY c.relname
    LOOP
        IF ((to_date(substr(part, length(parent) + 2), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC') <= cutoff THEN
            EXECUTE format('DROP TABLE %I', part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END;
$$;
-- +goose StatementEnd

-- delete_expired_default_rows deletes at most batch_size rows older than
-- cutoff (by time_column) from parent's default partition, where rows land
-- that were written before their day's partition existed; returns how many.
-- +goose StatementBegin
CREATE FUNCTION delete_expired_default_rows(parent text, time_column text, cutoff timestamptz, batch_size integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    deleted bigint;
BEGIN
    EXECUTE format('DELETE FROM %1$I WHERE ctid IN (SELECT ctid FROM %1$I WHERE %2$I < $1 LIMIT $2)',
                   parent || '_default', time_column)
        USING cutoff, batch_size;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$$;
-- +goose StatementEnd

-- The attempt functions keep their names and signatures for code already
-- running, and now use the shared definitions.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ensure_attempt_partitions(days_ahead integer) RETURNS void
LANGUAGE sql AS $$ SELECT ensure_daily_partitions('attempts', days_ahead) $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION drop_expired_attempt_partitions(cutoff timestamptz) RETURNS integer
LANGUAGE sql AS $$ SELECT drop_expired_daily_partitions('attempts', cutoff) $$;
-- +goose StatementEnd

-- events_index is a searchable copy of the EVENTS stream, written in
-- batches by the API's events-index consumer (idempotent: a redelivered
-- event conflicts on its key and is skipped). received_at is ingest's time
-- for the event, so a redelivery carries the same key. Empty strings, not
-- NULLs, stand for fields an event does not have. payload is the canonical
-- event as JSON for timelines, NULL when larger than the indexer's bound.
CREATE TABLE events_index (
    id              bigint GENERATED ALWAYS AS IDENTITY,
    account_id      text NOT NULL,
    event_id        text NOT NULL,
    kind            text NOT NULL,
    lifecycle       text NOT NULL DEFAULT '',
    call_type       text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT '',
    media_type      text NOT NULL DEFAULT '',
    media_id        text NOT NULL DEFAULT '',
    is_internal_leg boolean NOT NULL DEFAULT false,
    call_id         text NOT NULL DEFAULT '',
    thread_id       text NOT NULL DEFAULT '',
    from_number     text NOT NULL DEFAULT '',
    to_number       text NOT NULL DEFAULT '',
    direction       text NOT NULL DEFAULT '',
    source          text NOT NULL DEFAULT '',
    -- test_hook_id names the hook of a POST .../webhooks/{id}/test event.
    test_hook_id    text NOT NULL DEFAULT '',
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    payload         jsonb,
    PRIMARY KEY (id, received_at),
    UNIQUE (account_id, event_id, received_at)
) PARTITION BY RANGE (received_at);
CREATE TABLE events_index_default PARTITION OF events_index DEFAULT;
CREATE INDEX events_index_account_idx ON events_index (account_id, id DESC);
CREATE INDEX events_index_call_idx ON events_index (account_id, call_id) WHERE call_id <> '';
CREATE INDEX events_index_thread_idx ON events_index (account_id, thread_id) WHERE thread_id <> '';
CREATE INDEX events_index_from_idx ON events_index (account_id, from_number) WHERE from_number <> '';
CREATE INDEX events_index_to_idx ON events_index (account_id, to_number) WHERE to_number <> '';

SELECT ensure_daily_partitions('events_index', 2);

-- +goose Down
DROP TABLE events_index;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION drop_expired_attempt_partitions(cutoff timestamptz) RETURNS integer
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ensure_attempt_partitions(days_ahead integer) RETURNS void
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
                NULL;
            END;
        END IF;
    END LOOP;
END;
$$;
-- +goose StatementEnd
DROP FUNCTION delete_expired_default_rows(text, text, timestamptz, integer);
DROP FUNCTION drop_expired_daily_partitions(text, timestamptz);
DROP FUNCTION ensure_daily_partitions(text, integer);
