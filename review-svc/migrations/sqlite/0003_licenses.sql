-- Licences issued by final approvals, the shipments drawn down against
-- them, and the counters the caps are checked against. Keep in step with
-- migrations/postgres/0004_licenses.sql. The licences' events are in
-- `events`, on the chain of the application that issued them.

-- One row per licence (its id is the application's): the columns the
-- service filters and sweeps on, and the opaque snapshot.
CREATE TABLE licenses (
    id             TEXT    NOT NULL PRIMARY KEY,
    application_id TEXT    NOT NULL REFERENCES applications (id),
    version        INTEGER NOT NULL,
    holder         TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    destination    TEXT    NOT NULL,
    end_user       TEXT    NOT NULL,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    snapshot       TEXT    NOT NULL
);

-- list: newest first, keyset on (issued_at, id), with or without one equality filter.
CREATE INDEX licenses_by_issued      ON licenses (issued_at, id);
CREATE INDEX licenses_by_holder      ON licenses (holder, issued_at, id);
CREATE INDEX licenses_by_state       ON licenses (state, issued_at, id);
CREATE INDEX licenses_by_destination ON licenses (destination, issued_at, id);
CREATE INDEX licenses_by_end_user    ON licenses (end_user, issued_at, id);
-- The sweeper's queue (and "expiring before").
CREATE INDEX licenses_by_expiry      ON licenses (expires_at, id);

-- Every shipment (exports and U.S. domestic shipments), append-only.
CREATE TABLE shipments (
    id          TEXT    NOT NULL PRIMARY KEY,
    license_id  TEXT    NOT NULL REFERENCES licenses (id),
    holder      TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    shipped_at  INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    details     TEXT    NOT NULL
);
CREATE INDEX shipments_by_license ON shipments (license_id, shipped_at, id);
CREATE INDEX shipments_by_holder  ON shipments (holder, shipped_at, id);
CREATE INDEX shipments_by_time    ON shipments (shipped_at, id);

CREATE TRIGGER shipments_no_update BEFORE UPDATE ON shipments
BEGIN
    SELECT RAISE(ABORT, 'shipments are append-only');
END;
CREATE TRIGGER shipments_no_delete BEFORE DELETE ON shipments
BEGIN
    SELECT RAISE(ABORT, 'shipments are append-only');
END;

-- Running totals the caps are checked against (units per end user and
-- product, TPP exported and shipped at home per holder and product),
-- changed in the transaction of the shipment that changes them.
CREATE TABLE license_counters (
    counter TEXT    NOT NULL PRIMARY KEY,
    value   INTEGER NOT NULL
);
