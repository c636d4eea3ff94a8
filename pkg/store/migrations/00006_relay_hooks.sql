-- +goose Up

-- A relay hook is the temporary hook of a `pbxhooks listen` connection: the
-- deliverer hands its signed requests to the API replica holding the
-- connection (over NATS) instead of dialling its uri, and the API deletes it
-- when the connection ends. relay_lease_expires_at is NULL for every other
-- hook; for a relay hook it is renewed by the replica holding the
-- connection, so the relay hooks of a replica that crashed are swept once
-- their lease has run out. A nullable column without a default is a
-- catalog-only change, and older code (which names its columns) never sets
-- it, so no hook it creates is a relay hook.
ALTER TABLE hooks ADD COLUMN relay_lease_expires_at timestamptz;

-- The sweeper's scan: only relay hooks are indexed.
CREATE INDEX hooks_relay_lease_idx ON hooks (relay_lease_expires_at) WHERE relay_lease_expires_at IS NOT NULL;

-- +goose Down
DROP INDEX hooks_relay_lease_idx;
ALTER TABLE hooks DROP COLUMN relay_lease_expires_at;
