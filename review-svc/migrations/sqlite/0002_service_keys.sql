-- Secrets the service keeps with its data, so that every process on the
-- same database (and every restart) shares them: the key of its etags and
-- page tokens. Hex text; written once, never changed.
CREATE TABLE IF NOT EXISTS service_keys (
    purpose TEXT PRIMARY KEY,
    key_hex TEXT NOT NULL
);
