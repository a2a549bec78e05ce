-- The head of a licensed application's chain moves to its licence row.
-- Keep in step with migrations/sqlite/0004_license_chain_heads.sql, which
-- says why.
ALTER TABLE licenses
    ADD COLUMN chain_length BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN chain_head   TEXT   NOT NULL DEFAULT '';

UPDATE licenses l
SET chain_length = a.chain_length, chain_head = a.chain_head
FROM applications a
WHERE a.id = l.application_id;

-- Every licence written from here on names its head.
ALTER TABLE licenses
    ALTER COLUMN chain_length DROP DEFAULT,
    ALTER COLUMN chain_head DROP DEFAULT;
