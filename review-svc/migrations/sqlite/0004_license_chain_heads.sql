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
