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

-- The database keeps to it, so that a review-svc of an earlier release
-- still writing to this database (during an upgrade, say) is refused
-- instead of forking a chain: a licensed application's row no longer
-- moves its head (and an earlier release's licence, which names none,
-- fails the NOT NULL above).
CREATE FUNCTION licensed_chain_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM licenses WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'the chain of licensed application % continues on its licence row', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER applications_licensed_chain_stays
    BEFORE UPDATE OF chain_length, chain_head ON applications
    FOR EACH ROW
    WHEN (NEW.chain_length IS DISTINCT FROM OLD.chain_length
          OR NEW.chain_head IS DISTINCT FROM OLD.chain_head)
    EXECUTE FUNCTION licensed_chain_stays();
