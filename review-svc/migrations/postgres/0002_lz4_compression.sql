-- The two large text values, the rendered application and the event
-- details (the classifier's answers among them), are compressed with lz4
-- rather than the default pglz when they are moved out of line: pglz
-- compressing every filing's few kilobytes was a large part of the
-- database's CPU per filing, and lz4 does the same job several times
-- faster. Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE applications ALTER COLUMN snapshot SET COMPRESSION lz4;
    ALTER TABLE events ALTER COLUMN details SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server has no lz4: large values stay pglz-compressed';
END $$;
