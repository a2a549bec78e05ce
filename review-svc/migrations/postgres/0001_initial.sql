-- review-svc store, initial schema (PostgreSQL). Keep in step with
-- migrations/sqlite/0001_initial.sql: same tables, columns and indexes.
-- Identifiers use COLLATE "C" so that ordering by id is byte order, as in SQLite.

-- One row per application: the columns the service filters and sweeps on,
-- the opaque snapshot, and the head of the event chain.
CREATE TABLE applications (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    version           BIGINT NOT NULL,
    applicant         TEXT   NOT NULL,
    state             TEXT   NOT NULL,
    level             TEXT   NOT NULL,
    destination       TEXT   NOT NULL,
    -- JSON array of the awaited agencies, in the caller's order (read back
    -- by get/list); filtering uses application_awaiting.
    awaiting_agencies TEXT   NOT NULL,
    next_due_at       BIGINT,
    overdue_at        BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    snapshot          TEXT   NOT NULL,
    -- Number of events and hash of the last one (GENESIS when none).
    chain_length      BIGINT NOT NULL,
    chain_head        TEXT   NOT NULL
);

-- list: newest first, keyset on (created_at, id), with or without one equality filter.
CREATE INDEX applications_by_created     ON applications (created_at, id);
CREATE INDEX applications_by_applicant   ON applications (applicant, created_at, id);
CREATE INDEX applications_by_state       ON applications (state, created_at, id);
CREATE INDEX applications_by_destination ON applications (destination, created_at, id);
CREATE INDEX applications_by_level       ON applications (level, created_at, id);
-- Overdue rows are few in a healthy system: found through this index (which
-- covers the sort keys), then sorted.
CREATE INDEX applications_by_overdue     ON applications (overdue_at, created_at, id) WHERE overdue_at IS NOT NULL;
-- due: the sweeper's queue.
CREATE INDEX applications_by_due         ON applications (next_due_at, id) WHERE next_due_at IS NOT NULL;

-- One row per (agency, application) awaited, maintained with the row.
-- created_at is copied from the application so that "awaiting agency X,
-- newest first" is a range scan of the primary key; rows are removed by
-- their primary key too (the application row keeps the list).
CREATE TABLE application_awaiting (
    agency         TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    application_id TEXT COLLATE "C" NOT NULL REFERENCES applications (id),
    PRIMARY KEY (agency, created_at, application_id)
);

-- The append-only history. sequence is the global order.
CREATE TABLE events (
    sequence             BIGSERIAL PRIMARY KEY,
    application_id       TEXT COLLATE "C" NOT NULL REFERENCES applications (id),
    application_sequence BIGINT NOT NULL,
    kind                 TEXT   NOT NULL,
    actor                TEXT   NOT NULL,
    at                   BIGINT NOT NULL,
    details              TEXT   NOT NULL,
    previous_hash        TEXT   NOT NULL,
    hash                 TEXT   NOT NULL,
    -- Also serves "events of one application" (in application_sequence
    -- order, which is the order of sequence within an application).
    UNIQUE (application_id, application_sequence)
);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;
CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- Idempotency records: the first answer to each request id.
CREATE TABLE requests (
    request_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    application_id TEXT COLLATE "C" NOT NULL,
    fingerprint    TEXT   NOT NULL,
    response       TEXT   NOT NULL,
    recorded_at    BIGINT NOT NULL
);
