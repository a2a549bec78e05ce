-- The head of a licensed application's chain moves to its licence row.
-- Keep in step with migrations/postgres/0006_license_chain_heads.sql.
--
-- Once its licence is issued an application is closed: every later event
-- on its chain is the licence's, and the licence row is rewritten with
-- each of them anyway. Kept on the application row (about 1.8 KB, two to
-- a page), the head made every shipment rewrite that row too, the largest
-- a shipment touched. The application row keeps the head as it stood at
-- the issue; the audit verification checks it against the chain there,
-- and the licence's head against the chain's end.
ALTER TABLE licenses ADD COLUMN chain_length INTEGER NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN chain_head   TEXT    NOT NULL DEFAULT '';

UPDATE licenses SET
    chain_length = (SELECT a.chain_length FROM applications a WHERE a.id = licenses.application_id),
    chain_head   = (SELECT a.chain_head FROM applications a WHERE a.id = licenses.application_id);

-- The database keeps to it, so that a review-svc of an earlier release
-- still writing to this file (during an upgrade, say) is refused instead
-- of forking a chain: a licensed application's row no longer moves its
-- head, and a licence always names its head.
CREATE TRIGGER applications_licensed_chain_stays
BEFORE UPDATE OF chain_length, chain_head ON applications
WHEN (NEW.chain_length IS NOT OLD.chain_length OR NEW.chain_head IS NOT OLD.chain_head)
     AND EXISTS (SELECT 1 FROM licenses WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'the chain of a licensed application continues on its licence row');
END;

CREATE TRIGGER licenses_name_their_chain_head
BEFORE INSERT ON licenses
WHEN NEW.chain_head = ''
BEGIN
    SELECT RAISE(ABORT, 'a licence names the head of its chain');
END;
