-- application_awaiting is the store's own index of each application's
-- awaiting_agencies: its rows are written and removed only in the
-- transaction that writes their application row, by the store's writers.
-- Its foreign key made PostgreSQL look the application up again for each
-- awaited agency of every filing (four of a filing's seven checks, about
-- 13% of the database's CPU per filing). The events keep theirs.
ALTER TABLE application_awaiting DROP CONSTRAINT IF EXISTS application_awaiting_application_id_fkey;
