-- Licences issued by final approvals, the shipments drawn down against
-- them, and the counters the caps are checked against. Keep in step with
-- migrations/sqlite/0003_licenses.sql. The licences' events are in
-- `events`, on the chain of the application that issued them.

CREATE TABLE licenses (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    application_id TEXT COLLATE "C" NOT NULL REFERENCES applications (id),
    version        BIGINT NOT NULL,
    holder         TEXT   NOT NULL,
    state          TEXT   NOT NULL,
    destination    TEXT   NOT NULL,
    end_user       TEXT   NOT NULL,
    issued_at      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    snapshot       TEXT   NOT NULL
);

CREATE INDEX licenses_by_issued      ON licenses (issued_at, id);
CREATE INDEX licenses_by_holder      ON licenses (holder, issued_at, id);
CREATE INDEX licenses_by_state       ON licenses (state, issued_at, id);
CREATE INDEX licenses_by_destination ON licenses (destination, issued_at, id);
CREATE INDEX licenses_by_end_user    ON licenses (end_user, issued_at, id);
CREATE INDEX licenses_by_expiry      ON licenses (expires_at, id);

CREATE TABLE shipments (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    license_id  TEXT COLLATE "C" NOT NULL REFERENCES licenses (id),
    holder      TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    shipped_at  BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    details     TEXT   NOT NULL
);
CREATE INDEX shipments_by_license ON shipments (license_id, shipped_at, id);
CREATE INDEX shipments_by_holder  ON shipments (holder, shipped_at, id);
CREATE INDEX shipments_by_time    ON shipments (shipped_at, id);

CREATE FUNCTION shipments_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'shipments are append-only';
END;
$$;
CREATE TRIGGER shipments_no_update_or_delete BEFORE UPDATE OR DELETE ON shipments
    FOR EACH ROW EXECUTE FUNCTION shipments_append_only();

CREATE TABLE license_counters (
    counter TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    value   BIGINT NOT NULL
);
