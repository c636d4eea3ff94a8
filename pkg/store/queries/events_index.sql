-- The events index: the API's events-index consumer writes it in batches,
-- the API's event search, call timeline and filter preview read it.

-- name: InsertIndexedEvents :execrows
-- One statement per batch; an event already indexed (a redelivery) is
-- skipped, so the consumer may ack after commit whatever was inserted.
INSERT INTO events_index (
    account_id, event_id, kind, lifecycle, call_type, status, media_type, media_id,
    is_internal_leg, call_id, thread_id, from_number, to_number, direction, source,
    test_hook_id, occurred_at, received_at, payload
)
-- Several set-returning functions in one select list advance together
-- (PostgreSQL 10 and later), one row per array element.
SELECT unnest(sqlc.arg(account_ids)::text[]),
       unnest(sqlc.arg(event_ids)::text[]),
       unnest(sqlc.arg(kinds)::text[]),
       unnest(sqlc.arg(lifecycles)::text[]),
       unnest(sqlc.arg(call_types)::text[]),
       unnest(sqlc.arg(statuses)::text[]),
       unnest(sqlc.arg(media_types)::text[]),
       unnest(sqlc.arg(media_ids)::text[]),
       unnest(sqlc.arg(internal_legs)::boolean[]),
       unnest(sqlc.arg(call_ids)::text[]),
       unnest(sqlc.arg(thread_ids)::text[]),
       unnest(sqlc.arg(from_numbers)::text[]),
       unnest(sqlc.arg(to_numbers)::text[]),
       unnest(sqlc.arg(directions)::text[]),
       unnest(sqlc.arg(sources)::text[]),
       unnest(sqlc.arg(test_hook_ids)::text[]),
       unnest(sqlc.arg(occurred_ats)::timestamptz[]),
       unnest(sqlc.arg(received_ats)::timestamptz[]),
       unnest(sqlc.arg(payloads)::jsonb[])
ON CONFLICT (account_id, event_id, received_at) DO NOTHING;

-- name: SearchIndexedEvents :many
-- Newest indexed first; before_id pages backwards (0 means from the
-- newest). Every filter is optional; number matches from or to; the time
-- bounds select occurred_at in [since, until).
SELECT * FROM events_index
WHERE account_id = sqlc.arg(account_id)
  AND (sqlc.arg(before_id)::bigint = 0 OR id < sqlc.arg(before_id))
  AND (sqlc.narg(call_id)::text IS NULL OR call_id = sqlc.narg(call_id))
  AND (sqlc.narg(thread_id)::text IS NULL OR thread_id = sqlc.narg(thread_id))
  AND (sqlc.narg(number)::text IS NULL OR from_number = sqlc.narg(number) OR to_number = sqlc.narg(number))
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
  AND (sqlc.narg(kind)::text IS NULL OR kind = sqlc.narg(kind))
  AND (sqlc.narg(since)::timestamptz IS NULL OR occurred_at >= sqlc.narg(since))
  AND (sqlc.narg(until)::timestamptz IS NULL OR occurred_at < sqlc.narg(until))
ORDER BY id DESC
LIMIT sqlc.arg(page_size);

-- name: ListCallEvents :many
-- One call's events, by call id or thread id, in the order they happened.
SELECT * FROM events_index
WHERE account_id = sqlc.arg(account_id)
  AND (call_id = sqlc.arg(call_ref) OR thread_id = sqlc.arg(call_ref))
ORDER BY occurred_at, id
LIMIT sqlc.arg(max_events);

-- name: ListRecentPreviewEvents :many
-- The account's most recent real events (no test fires), for the filter
-- preview.
SELECT * FROM events_index
WHERE account_id = sqlc.arg(account_id) AND test_hook_id = ''
ORDER BY id DESC
LIMIT sqlc.arg(max_events);
